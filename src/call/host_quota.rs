//! One quota's schedule shared by the handoff processes of one host.
//!
//! A quota is the account's: two cron entries, a triage run beside a bulk run, or three
//! worker replicas on one machine all draw on the same bucket, and each process's own pacing
//! at the documented rate adds up to several times it. Processes that share a state
//! directory (the default) therefore also take their turns from a small file beside the
//! journal, one per quota group and account scope: under an advisory lock (`flock`, released
//! by the kernel however its holder dies) a call reads when the next call of any process may
//! go, takes that slot (or now, if it has passed) and moves it one interval on. The calls of
//! every process are then spaced as one process's would be, and they never throttle each
//! other. Across hosts nothing is shared, and the adaptive limiter alone keeps the peace.
//!
//! The file also lists the processes that took a slot in the last minute (pid, when), so a
//! step can say that its quota is shared. Times are `CLOCK_MONOTONIC`, the same for every
//! process of one boot; a file from an earlier boot holds times in the past, which read as
//! "now" and as nobody present.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

const MAGIC: &[u8; 8] = b"HOQUOTA1";
/// A process that took no slot for this long is no longer counted as present.
const PRESENT: Duration = Duration::from_secs(60);
/// The most processes the file remembers.
const MOST: usize = 64;

/// The schedule file of one quota, opened once per process.
#[derive(Debug)]
pub struct HostQuota {
    file: Mutex<File>,
    path: PathBuf,
    pid: u32,
}

/// What the file holds.
#[derive(Debug, Default, Clone, PartialEq)]
struct Schedule {
    /// When the next call of any process may go (monotonic nanoseconds).
    next: u64,
    /// Who took a slot lately: (pid, when).
    present: Vec<(u32, u64)>,
}

impl HostQuota {
    /// Opens (or creates) the schedule `name` in `dir`.
    pub fn open(dir: &Path, name: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.quota"));
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        Ok(Self { file: Mutex::new(file), path, pid: std::process::id() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the next slot, `interval` after the one taken before it by any process on the
    /// host; answers how long to wait for it.
    pub fn reserve(&self, interval: Duration) -> std::io::Result<Duration> {
        self.with_schedule(|schedule, now| {
            let slot = schedule.next.max(now);
            schedule.next = slot.saturating_add(interval.as_nanos() as u64);
            Duration::from_nanos(slot - now)
        })
    }

    /// How many other processes took a slot within the last minute and are still alive.
    pub fn others(&self) -> std::io::Result<usize> {
        self.with_schedule(|schedule, _| schedule.present.iter().filter(|(pid, _)| *pid != self.pid).count())
    }

    /// Reads the schedule under the lock, lets `change` update it, notes this process as
    /// present, forgets the absent and the dead, and writes it back.
    fn with_schedule<T>(&self, change: impl FnOnce(&mut Schedule, u64) -> T) -> std::io::Result<T> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.lock()?;
        let result = (|| -> std::io::Result<T> {
            let mut bytes = Vec::with_capacity(64);
            file.seek(SeekFrom::Start(0))?;
            file.read_to_end(&mut bytes)?;
            let now = monotonic_now();
            let mut schedule = Schedule::decode(&bytes).unwrap_or_default();
            schedule.present.retain(|&(pid, seen)| {
                pid != self.pid && now.saturating_sub(seen) < PRESENT.as_nanos() as u64 && alive(pid)
            });
            let answer = change(&mut schedule, now);
            schedule.present.push((self.pid, now));
            let keep = schedule.present.len().saturating_sub(MOST);
            schedule.present.drain(..keep);
            let encoded = schedule.encode();
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&encoded)?;
            file.set_len(encoded.len() as u64)?;
            Ok(answer)
        })();
        let unlocked = file.unlock();
        let answer = result?;
        unlocked?;
        Ok(answer)
    }
}

impl Schedule {
    fn encode(&self) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&self.next.to_le_bytes());
        bytes.extend_from_slice(&(self.present.len() as u64).to_le_bytes());
        for (pid, seen) in &self.present {
            bytes.extend_from_slice(&u64::from(*pid).to_le_bytes());
            bytes.extend_from_slice(&seen.to_le_bytes());
        }
        bytes
    }

    /// The schedule in `bytes`; `None` for an empty, foreign or cut-short file (it is then
    /// started afresh: the worst that costs is one call sent early).
    fn decode(bytes: &[u8]) -> Option<Self> {
        let rest = bytes.strip_prefix(MAGIC.as_slice())?;
        let mut words = rest.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()));
        let next = words.next()?;
        let count = usize::try_from(words.next()?).ok()?.min(MOST);
        let mut present = Vec::with_capacity(count);
        for _ in 0..count {
            let pid = u32::try_from(words.next()?).ok()?;
            present.push((pid, words.next()?));
        }
        Some(Self { next, present })
    }
}

fn monotonic_now() -> u64 {
    use nix::time::{ClockId, clock_gettime};
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map_or(0, |t| (t.tv_sec() as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec() as u64))
}

/// Whether a process with this pid exists (it may be another program after a reuse; the
/// minute of [`PRESENT`] bounds that).
fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    !matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH))
}

#[cfg(test)]
mod tests {
    use super::{HostQuota, Schedule};
    use std::time::Duration;

    #[test]
    fn slots_are_spaced_across_every_holder_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // Two handles stand for two processes' (each opens the file itself).
        let one = HostQuota::open(dir.path(), "writes").unwrap();
        let two = HostQuota::open(dir.path(), "writes").unwrap();
        let interval = Duration::from_millis(500);
        let waits: Vec<Duration> = (0..4)
            .map(|n| if n % 2 == 0 { one.reserve(interval) } else { two.reserve(interval) }.unwrap())
            .collect();
        assert!(waits[0] < Duration::from_millis(50), "{waits:?}");
        for (n, wait) in waits.iter().enumerate().skip(1) {
            let expected = interval * n as u32;
            assert!(
                *wait <= expected && *wait + Duration::from_millis(100) >= expected,
                "slot {n}: waits {wait:?}, expected about {expected:?} ({waits:?})"
            );
        }
    }

    #[test]
    fn a_damaged_file_starts_afresh_and_the_schedule_round_trips() {
        let schedule = Schedule { next: 42, present: vec![(7, 1), (8, 2)] };
        assert_eq!(Schedule::decode(&schedule.encode()), Some(schedule.clone()));
        let bytes = schedule.encode();
        for cut in 0..bytes.len() {
            let decoded = Schedule::decode(&bytes[..cut]);
            assert!(decoded.is_none() || cut >= 24, "a cut-short file is not taken for a schedule");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("writes.quota"), b"not a schedule at all").unwrap();
        let quota = HostQuota::open(dir.path(), "writes").unwrap();
        assert!(quota.reserve(Duration::from_secs(1)).unwrap() < Duration::from_millis(50));
        assert_eq!(quota.others().unwrap(), 0, "only this process is present");
    }

    #[test]
    fn a_live_process_is_present_and_a_dead_one_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let quota = HostQuota::open(dir.path(), "writes").unwrap();
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let now = super::monotonic_now();
        let schedule = Schedule { next: 0, present: vec![(child.id(), now), (u32::MAX - 1, now)] };
        std::fs::write(quota.path(), schedule.encode()).unwrap();
        assert_eq!(quota.others().unwrap(), 1, "the sleeping child, not the pid nobody has");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(quota.others().unwrap(), 0, "a dead process is forgotten");
    }
}
