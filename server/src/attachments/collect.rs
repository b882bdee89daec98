//! Collecting what nothing needs: unfinished uploads untouched for the grace period, and
//! attachments older than it that no document they were uploaded for references any more.

use std::sync::Arc;
use std::time::Duration;

use setlink_core::attachment;

use crate::hub::Hub;
use crate::storage::StorageError;
use crate::today::Today;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Collected {
    pub uploads: usize,
    pub attachments: usize,
}

/// One pass. A document that cannot be read now keeps its attachments: only a document
/// read and found without the reference lets one go.
pub async fn collect(hub: &Hub, now_ms: i64, grace: Duration) -> Result<Collected, StorageError> {
    let before = now_ms.saturating_sub(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX));
    let storage = hub.storage();
    let uploads = storage.expire_uploads(before).await?;
    let mut attachments = 0;
    for a in storage.attachments_before(before).await? {
        let mut referenced = false;
        for doc in a.docs {
            let hash = a.hash.clone();
            match hub
                .read(doc, move |d| attachment::board_references(d, &hash))
                .await
            {
                Ok(true) => referenced = true,
                Ok(false) => {
                    storage
                        .remove_attachment_ref(a.production_id.clone(), a.hash.clone(), doc)
                        .await?
                }
                Err(e) => {
                    tracing::warn!(%doc, error = %e, "cannot read a document to collect attachments; keeping them");
                    referenced = true;
                }
            }
        }
        if !referenced {
            storage
                .delete_attachment(a.production_id.clone(), a.hash.clone())
                .await?;
            attachments += 1;
        }
    }
    Ok(Collected {
        uploads,
        attachments,
    })
}

/// Collects every quarter of the grace period (at least each second, at most hourly).
pub fn spawn(hub: Arc<Hub>, today: Today, grace: Duration) -> tokio::task::JoinHandle<()> {
    let every = (grace / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match collect(&hub, today.now_ms(), grace).await {
                Ok(c) if c != Collected::default() => {
                    tracing::info!(
                        uploads = c.uploads,
                        attachments = c.attachments,
                        "collected unreferenced attachments"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "collecting attachments failed"),
            }
        }
    })
}
