//! Cursor pagination: `?limit=&cursor=` in, `{items, next_cursor}` out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nextal_persistence::repo::PageRequest;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;

/// Items per page when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 50;
/// Most items a page may hold.
pub const MAX_LIMIT: u32 = 200;

/// The page a list request asks for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page; omit for the first page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// Checks the query; fetches one row more than asked to learn whether a next page exists.
    pub fn into_request(self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid_field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match self.cursor {
            None => None,
            Some(cursor) => Some(decode_cursor(&cursor).ok_or_else(|| {
                ApiError::invalid_field("cursor", "is not a cursor returned by this list")
            })?),
        };
        Ok(PageRequest {
            after,
            limit: i64::from(limit) + 1,
        })
    }
}

/// Cuts the extra row fetched by `into_request` and makes the next cursor from the last
/// row kept.
pub fn finish_page<T>(
    mut rows: Vec<T>,
    request: &PageRequest,
    key: impl Fn(&T) -> &str,
) -> (Vec<T>, Option<String>) {
    let wanted = usize::try_from(request.limit - 1).unwrap_or(usize::MAX);
    if rows.len() > wanted {
        rows.truncate(wanted);
        let next = rows.last().map(|row| encode_cursor(key(row)));
        (rows, next)
    } else {
        (rows, None)
    }
}

fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let key = String::from_utf8(bytes).ok()?;
    uuid::Uuid::parse_str(&key).ok().map(|_| key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_cursor() {
        let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        let request = PageQuery {
            limit: Some(2),
            cursor: None,
        }
        .into_request()
        .expect("valid");
        let (items, next) = finish_page(ids.clone(), &request, |id| id.as_str());
        assert_eq!(items, ids[..2]);
        let next = next.expect("a next page");
        let request = PageQuery {
            limit: Some(2),
            cursor: Some(next),
        }
        .into_request()
        .expect("valid");
        assert_eq!(request.after.as_deref(), Some(ids[1].as_str()));
        let (_, next) = finish_page(ids[2..].to_vec(), &request, |id| id.as_str());
        assert_eq!(next, None);
    }

    #[test]
    fn bad_limits_and_cursors_are_refused() {
        for query in [
            PageQuery {
                limit: Some(0),
                cursor: None,
            },
            PageQuery {
                limit: Some(201),
                cursor: None,
            },
            PageQuery {
                limit: None,
                cursor: Some("!!".into()),
            },
            PageQuery {
                limit: None,
                cursor: Some(URL_SAFE_NO_PAD.encode("x")),
            },
        ] {
            assert!(matches!(query.into_request(), Err(ApiError::Validation(_))));
        }
    }
}
