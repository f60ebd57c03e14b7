//! A SQLite state file that cannot be used is named for what it is — damaged, read-only,
//! locked by another connection, missing and not creatable — at once and with the fix, not
//! as a pool timeout after the connect timeout.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sqlx::{Connection, Executor};
use tte_sync_core::store::{Store, StoreError, StoreOptions};

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("tte-sync-store-open-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Short waits: a pool timeout would show as the generic `Open` error, not a quick answer.
fn options() -> StoreOptions {
    StoreOptions::default()
        .busy_timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(2))
}

async fn open(path: &Path) -> Result<Store, StoreError> {
    Store::open_with(&format!("sqlite://{}", path.display()), options()).await
}

#[tokio::test]
async fn a_damaged_file_is_called_damaged_with_the_fix() {
    let dir = scratch("corrupt");
    let path = dir.join("state.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend((0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&path, bytes).unwrap();
    let error = open(&path).await.unwrap_err();
    assert!(
        matches!(error, StoreError::StateFileCorrupt { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("move it aside"), "{message}");
    assert!(!message.contains("pool timed out"), "{message}");

    std::fs::write(
        &path,
        b"not a database at all, just text that is long enough",
    )
    .unwrap();
    let error = open(&path).await.unwrap_err();
    assert!(
        matches!(error, StoreError::StateFileCorrupt { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_file_locked_by_another_connection_is_called_locked() {
    let dir = scratch("locked");
    let path = dir.join("state.db");
    open(&path).await.unwrap().close().await;
    sqlx::any::install_default_drivers();
    let mut holder = sqlx::AnyConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    holder
        .execute(sqlx::raw_sql(
            "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; \
             CREATE TABLE held (x INTEGER);",
        ))
        .await
        .unwrap();
    let error = open(&path).await.unwrap_err();
    assert!(
        matches!(error, StoreError::StateFileLocked { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("another"), "{error}");
    holder.execute("ROLLBACK").await.unwrap();
    holder.close().await.unwrap();
}

#[tokio::test]
async fn a_file_that_cannot_be_created_is_called_missing() {
    let dir = scratch("missing");
    let not_a_dir = dir.join("file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let error = open(&not_a_dir.join("state.db")).await.unwrap_err();
    assert!(
        matches!(error, StoreError::StateFileMissing { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("cannot be created"), "{error}");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|line| line.starts_with("Uid:"))
            .and_then(|line| line.split_whitespace().nth(2))
            == Some("0")
    })
}

/// Makes `paths` unwritable: mode bits for a normal user, the immutable flag for root (whom
/// mode bits do not stop). Undone on drop.
struct ReadOnly(Vec<PathBuf>, bool);

impl ReadOnly {
    fn make(paths: &[&Path]) -> Self {
        let root = is_root();
        for path in paths {
            if root {
                let status = Command::new("chattr").arg("+i").arg(path).status().unwrap();
                assert!(status.success(), "chattr +i {} failed", path.display());
            } else {
                set_mode(path, 0o555);
            }
        }
        Self(paths.iter().map(|p| p.to_path_buf()).collect(), root)
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        for path in &self.0 {
            if self.1 {
                let _ = Command::new("chattr").arg("-i").arg(path).status();
            } else {
                set_mode(path, 0o755);
            }
        }
    }
}

#[tokio::test]
async fn a_read_only_file_is_called_read_only() {
    let dir = scratch("read-only");
    let path = dir.join("state.db");
    open(&path).await.unwrap().close().await;
    let _ = std::fs::remove_file(dir.join("state.db-wal"));
    let _ = std::fs::remove_file(dir.join("state.db-shm"));
    let guard = ReadOnly::make(&[&path, &dir]);
    let error = open(&path).await.unwrap_err();
    drop(guard);
    assert!(
        matches!(error, StoreError::StateFileReadOnly { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("writable"), "{error}");
}
