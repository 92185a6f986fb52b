//! The journal as one run writes to it: item outcomes through a group-committing writer
//! thread, step outcomes directly.

use std::sync::Mutex;

use super::{AttemptRecord, ItemRecord, Journal, JournalError, StepRecord};

/// How long the writer waits for more items before a commit, when items have been arriving
/// together: each commit writes every page it touched, so ten items in one commit write
/// fewer pages per item than two do (1.90 against 2.96 WAL frames, `bench/journal_frames.py`).
/// 10,000 accepts, six interleaved runs: 233 -> 190 us of handoff's CPU per call. Since items
/// are indexed by position (schema 4), a commit's pages are mostly the same few whatever it
/// holds, so fewer, larger commits pay: 5 ms instead of 2 ms gave 30 -> 60 items and 270 ->
/// 145 fsyncs a second, and 2-5% more throughput in each of four interleaved rounds of 20,000
/// accepts (10 ms gained nothing more). A lone item (a one-call run, a slow stream, a long
/// `exec`) is never held.
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);
/// The most items one commit holds.
const MOST_PER_COMMIT: usize = 256;

/// The journal as one run writes to it. Item outcomes go through one writer thread that
/// commits whatever has queued up in a single transaction (group commit): each item still
/// waits for the commit that holds it before it counts as done, but 64 items in flight cost
/// one fsync, not 64. While items arrive together, the writer waits up to [`LINGER`] for
/// more before committing. A write that fails is kept, and the engine stops starting items: an
/// outcome that cannot be recorded must not count as done.
#[derive(Debug)]
pub struct RunRecorder {
    journal: std::sync::Arc<Journal>,
    run_id: String,
    writer: Mutex<std::sync::mpsc::Sender<PendingItem>>,
    failure: std::sync::Arc<Mutex<Option<String>>>,
}

/// An item waiting for its commit; `done` hears whether it was written, with the row.
struct PendingItem {
    item: ItemRecord,
    attempts: Vec<AttemptRecord>,
    done: tokio::sync::oneshot::Sender<Written>,
}

/// A row back from the writer, and whether it was committed. It always comes back, written
/// or not, so that the item's task frees it: the row's strings were allocated on a runtime
/// worker, and freed on the writer thread every one was a cross-thread free (an atomic push
/// onto another thread's list, and a cache miss). 20,000 accepts, `perf record`: `mi_free`
/// on the writer went from 0.28% of the run's samples to 0.03%; a small saving, but one that
/// costs nothing.
struct Written {
    committed: bool,
    item: ItemRecord,
    _attempts: Vec<AttemptRecord>,
}

impl RunRecorder {
    /// `session`: 0 for the first run, n for its n-th resumption.
    pub fn new(journal: std::sync::Arc<Journal>, run_id: String, session: u32) -> Self {
        let (sender, queue) = std::sync::mpsc::channel::<PendingItem>();
        let failure = std::sync::Arc::new(Mutex::new(None));
        let (writer_journal, writer_run, writer_failure) = (journal.clone(), run_id.clone(), failure.clone());
        // Ends when the recorder (the only sender) is dropped.
        std::thread::spawn(move || {
            // Whether items arrived together last time: a stream worth waiting for.
            let mut busy = false;
            while let Ok(first) = queue.recv() {
                let mut batch = vec![first];
                batch.extend(queue.try_iter().take(MOST_PER_COMMIT - 1));
                busy |= batch.len() > 1;
                if busy {
                    // Asleep, not waiting on the queue: a wait on the queue is woken by every
                    // item that arrives (a futex wake and a context switch per item).
                    std::thread::sleep(LINGER);
                    batch.extend(queue.try_iter().take(MOST_PER_COMMIT - batch.len()));
                }
                busy = batch.len() > 1;
                let rows: Vec<(&ItemRecord, &[AttemptRecord])> =
                    batch.iter().map(|p| (&p.item, p.attempts.as_slice())).collect();
                let result = writer_journal.record_items(&writer_run, session, &rows);
                let written = result.is_ok();
                if let Err(error) = result {
                    writer_failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(error.to_string());
                }
                drop(rows);
                for PendingItem { item, attempts, done } in batch {
                    let _ = done.send(Written { committed: written, item, _attempts: attempts });
                }
            }
        });
        Self { journal, run_id, writer: Mutex::new(sender), failure }
    }

    /// Records an item durably, waiting for its commit; the row comes back if that failed
    /// (`None` only if the writer thread is gone, which took the row with it).
    /// The row is moved, not copied: items waiting for a slow commit hold it once. The wait
    /// is asynchronous: an item waiting for its commit holds no thread (blocking there took a
    /// thread per waiting item, about a hundred in a bulk run, each with its own allocator
    /// arena).
    pub async fn item(
        &self,
        item: ItemRecord,
        attempts: Vec<AttemptRecord>,
    ) -> Result<(), Option<ItemRecord>> {
        let (done, written) = tokio::sync::oneshot::channel();
        let pending = PendingItem { item, attempts, done };
        if let Err(refused) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).send(pending) {
            return Err(Some(refused.0.item));
        }
        match written.await {
            // The row is dropped here, on this task's worker.
            Ok(Written { committed: true, .. }) => Ok(()),
            Ok(Written { item, .. }) => Err(Some(item)),
            Err(_) => Err(None),
        }
    }

    pub fn step(&self, step: &StepRecord) -> bool {
        let result = blocking(|| self.journal.record_step(&self.run_id, step));
        self.keep(result)
    }

    /// Calls of `actions` recorded in this journal since `since` (see [`Journal::calls_since`]).
    pub fn calls_since(&self, actions: &[&str], since: &str) -> Result<u64, JournalError> {
        blocking(|| self.journal.calls_since(actions, since))
    }

    /// An item's output as this run recorded it (masked); see [`Journal::item_output`].
    pub fn output(
        &self,
        step_id: &str,
        position: Option<usize>,
        key: &str,
    ) -> Result<Option<serde_json::Value>, JournalError> {
        blocking(|| self.journal.item_output(&self.run_id, step_id, position, key))
    }

    /// The journal this run writes to.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The first write that failed, if one did.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn keep(&self, result: Result<(), JournalError>) -> bool {
        match result {
            Ok(()) => true,
            Err(error) => {
                self.failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(error.to_string());
                false
            }
        }
    }
}

/// Runs a blocking journal write without stalling the async worker it is called from.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
