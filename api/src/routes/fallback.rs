//! What answers a request no route took: 405 with `Allow` when the path exists under
//! other methods, 404 otherwise.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use utoipa::openapi::OpenApi;

use crate::error::ApiError;

/// The documented paths and their methods, for telling 404 from 405.
pub struct RouteTable {
    routes: Vec<(Vec<Segment>, String)>,
}

enum Segment {
    Literal(String),
    /// `{id}`, `{token}`: any one segment.
    Parameter,
}

impl RouteTable {
    /// The paths of `document`.
    pub fn new(document: &OpenApi) -> Self {
        let routes = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path
                    .split('/')
                    .map(|segment| {
                        if segment.starts_with('{') && segment.ends_with('}') {
                            Segment::Parameter
                        } else {
                            Segment::Literal(segment.to_owned())
                        }
                    })
                    .collect();
                let mut methods: Vec<String> = serde_json::to_value(item)
                    .ok()
                    .and_then(|value| value.as_object().cloned())
                    .into_iter()
                    .flat_map(|object| object.into_iter().map(|(key, _)| key))
                    .filter(|key| {
                        matches!(key.as_str(), "get" | "put" | "post" | "delete" | "patch")
                    })
                    .map(|key| key.to_ascii_uppercase())
                    .collect();
                methods.sort();
                (segments, methods.join(", "))
            })
            .collect();
        Self { routes }
    }

    /// The methods `path` answers, if it is a documented path.
    fn allowed(&self, path: &str) -> Option<&str> {
        let wanted: Vec<&str> = path.split('/').collect();
        self.routes.iter().find_map(|(segments, methods)| {
            let matches = segments.len() == wanted.len()
                && segments
                    .iter()
                    .zip(&wanted)
                    .all(|(segment, part)| match segment {
                        Segment::Literal(literal) => literal == part,
                        Segment::Parameter => !part.is_empty(),
                    });
            matches.then_some(methods.as_str())
        })
    }
}

/// The default service.
pub async fn fallback(
    request: HttpRequest,
    table: Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    match table.allowed(request.path()) {
        Some(allow) => Err(ApiError::MethodNotAllowed {
            allow: allow.to_owned(),
        }),
        None => Err(ApiError::NotFound),
    }
}
