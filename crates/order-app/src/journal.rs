//! Opening the durable journal (`order-journal`): SQLite or PostgreSQL, by the URL's scheme.

use std::sync::Arc;

use order_journal::AnyJournal;

use crate::app::AppError;

/// Opens `url` with [`AnyJournal::open`]: `sqlite://FILE` (created and migrated if needed,
/// held by this process alone), `sqlite::memory:` (private, not durable), or
/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (migrated if needed, shared by any number of
/// processes).
pub(crate) async fn open(url: &str) -> Result<Arc<AnyJournal>, AppError> {
    match AnyJournal::open(url).await {
        Ok(j) => Ok(Arc::new(j)),
        Err(e) => Err(AppError::Journal {
            url: order_journal::redact_url(url),
            source: e,
        }),
    }
}
