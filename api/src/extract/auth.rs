//! The authenticated caller, from the `Authorization: Bearer` header.

use std::future::Future;
use std::pin::Pin;

use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header};
use nextal_domain::Role;

use crate::error::ApiError;
use crate::services::auth::{self, CurrentUser};

use crate::state::AppState;

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<Data<AppState>>().cloned();
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("application state is not registered"))
            })?;
            Ok(auth::authenticate(&state.db, authorization.as_deref()).await?)
        })
    }
}

/// An authenticated admin; anyone else gets 403 (or 401 without a session).
#[derive(Debug, Clone)]
pub struct AdminUser(pub CurrentUser);

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let current = CurrentUser::from_request(request, payload);
        Box::pin(async move {
            let current = current.await?;
            if current.role == Role::Admin {
                Ok(AdminUser(current))
            } else {
                Err(ApiError::Forbidden)
            }
        })
    }
}
