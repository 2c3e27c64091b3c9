//! Opening the durable journal (`order-journal`'s SQLite implementation).

use std::sync::Arc;

use order_domain::Journal;
use order_journal::SqliteJournal;

use crate::app::AppError;

/// Opens `url` with [`SqliteJournal::open`] (creating and migrating the file if needed).
pub(crate) async fn open(url: &str) -> Result<Arc<dyn Journal>, AppError> {
    match SqliteJournal::open(url).await {
        Ok(j) => Ok(Arc::new(j)),
        Err(e) => Err(AppError::Journal {
            url: order_journal::redact_url(url),
            source: e,
        }),
    }
}
