//! Cursor pagination: `?limit=&cursor=` in, `{items, next_cursor}` out.

use chrono::NaiveDateTime;
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
    /// The `next_cursor` of the previous page; omit for the first page. It is the id of
    /// the previous page's last item: any id is a position in the list.
    #[param(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub cursor: Option<String>,
}

impl PageQuery {
    /// Checks the query; fetches one row more than asked to learn whether a next page exists.
    pub fn into_request(self) -> Result<PageRequest, ApiError> {
        let limit = checked_limit(self.limit)?;
        let after = match self.cursor {
            None => None,
            Some(cursor) => Some(decode_cursor(&cursor).ok_or_else(invalid_cursor)?),
        };
        Ok(PageRequest { after, limit })
    }

    /// As [`PageQuery::into_request`], for a list ordered by a time, then the id: the
    /// cursor carries both.
    pub fn into_time_keyset(self) -> Result<TimeKeysetRequest, ApiError> {
        let limit = checked_limit(self.limit)?;
        let after = match self.cursor {
            None => None,
            Some(cursor) => Some(TimeAndId::decode(&cursor).ok_or_else(invalid_cursor)?),
        };
        Ok(TimeKeysetRequest { after, limit })
    }
}

/// The `limit` asked for, checked, plus the one extra row that tells whether a next
/// page exists.
fn checked_limit(limit: Option<u32>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(i64::from(limit) + 1)
}

fn invalid_cursor() -> ApiError {
    ApiError::invalid_field("cursor", "is not a cursor returned by this list")
}

/// A position in a list ordered by a time (null for rows that have none), then the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeAndId {
    pub time: Option<NaiveDateTime>,
    pub id: String,
}

impl TimeAndId {
    /// The cursor: `<seconds>.<nanoseconds>_<id>` (`-` for no time), as the contract's
    /// pattern states it, so that any cursor the contract admits is a position in the
    /// list. Nanoseconds, so that the time read back is exactly the
    /// stored one.
    fn encode(&self) -> String {
        let time = match self.time {
            Some(time) => {
                let time = time.and_utc();
                format!("{}.{:09}", time.timestamp(), time.timestamp_subsec_nanos())
            }
            None => "-".to_owned(),
        };
        format!("{time}_{}", self.id)
    }

    fn decode(cursor: &str) -> Option<Self> {
        let (time, id) = cursor.split_once('_')?;
        let id = hyphenated_id(id)?;
        let time = match time {
            "-" => None,
            time => {
                let (seconds, nanos) = time.split_once('.')?;
                let digits = |text: &str| text.bytes().all(|b| b.is_ascii_digit());
                if nanos.len() != 9
                    || !digits(nanos)
                    || !(1..=10).contains(&seconds.len())
                    || !digits(seconds)
                {
                    return None;
                }
                let time =
                    chrono::DateTime::from_timestamp(seconds.parse().ok()?, nanos.parse().ok()?)?;
                Some(time.naive_utc())
            }
        };
        Some(Self { time, id })
    }
}

/// A page request over a list ordered by a time, then the id.
#[derive(Debug, Clone)]
pub struct TimeKeysetRequest {
    /// The last position of the previous page; `None` starts at the beginning.
    pub after: Option<TimeAndId>,
    /// How many rows to fetch: the page's size plus one.
    pub limit: i64,
}

/// As [`finish_page`], for a [`TimeKeysetRequest`]: the next cursor carries the last
/// kept row's time and id.
pub fn finish_time_keyset_page<T>(
    mut rows: Vec<T>,
    request: &TimeKeysetRequest,
    key: impl Fn(&T) -> TimeAndId,
) -> (Vec<T>, Option<String>) {
    let wanted = usize::try_from(request.limit - 1).unwrap_or(usize::MAX);
    if rows.len() > wanted {
        rows.truncate(wanted);
        let next = rows.last().map(|row| key(row).encode());
        (rows, next)
    } else {
        (rows, None)
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

/// The cursor of a list ordered by id: the last id of the page.
fn encode_cursor(key: &str) -> String {
    key.to_owned()
}

fn decode_cursor(cursor: &str) -> Option<String> {
    hyphenated_id(cursor)
}

/// An id in its hyphenated form only, the one the contract's pattern states.
fn hyphenated_id(text: &str) -> Option<String> {
    (text.len() == 36 && uuid::Uuid::parse_str(text).is_ok()).then(|| text.to_owned())
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
                cursor: Some(String::new()),
            },
            // An id, but not in the hyphenated form the contract states.
            PageQuery {
                limit: None,
                cursor: Some(uuid::Uuid::now_v7().simple().to_string()),
            },
        ] {
            assert!(matches!(query.into_request(), Err(ApiError::Validation(_))));
        }
    }

    #[test]
    fn time_keyset_cursors_round_trip_exactly() {
        let id = uuid::Uuid::now_v7().to_string();
        let time = chrono::DateTime::from_timestamp(1_795_000_000, 123_456_789)
            .expect("a time")
            .naive_utc();
        for key in [
            TimeAndId {
                time: Some(time),
                id: id.clone(),
            },
            TimeAndId {
                time: None,
                id: id.clone(),
            },
        ] {
            let request = PageQuery {
                limit: Some(2),
                cursor: Some(key.encode()),
            }
            .into_time_keyset()
            .expect("valid");
            assert_eq!(request.after, Some(key));
            assert_eq!(request.limit, 3);
        }
        let rows = vec![(Some(time), id.clone()), (None, id.clone()), (None, id)];
        let request = PageQuery {
            limit: Some(2),
            cursor: None,
        }
        .into_time_keyset()
        .expect("valid");
        let (rows, next) = finish_time_keyset_page(rows, &request, |(time, id)| TimeAndId {
            time: *time,
            id: id.clone(),
        });
        assert_eq!(rows.len(), 2);
        assert_eq!(
            TimeAndId::decode(&next.expect("a next page")).map(|key| key.time),
            Some(None)
        );
    }

    #[test]
    fn bad_time_keyset_cursors_are_refused() {
        let id = uuid::Uuid::now_v7().to_string();
        for text in [
            // An id cursor of another list is not a position here.
            id.clone(),
            format!("12.5_{id}"),
            format!("x.000000000_{id}"),
            format!("+1.000000000_{id}"),
            format!("12345678901.000000000_{id}"),
            "-_not-an-id".to_owned(),
        ] {
            let query = PageQuery {
                limit: None,
                cursor: Some(text),
            };
            assert!(matches!(
                query.into_time_keyset(),
                Err(ApiError::Validation(_))
            ));
        }
    }
}
