//! The durable state as one append-only file: a header, then framed [`StateChange`]s.
//!
//! ```text
//! header  "PMIPGWJ1" | owner u8 (1 LMA, 2 MAG) | 7 bytes 0
//! record  length u32 LE | CRC-32 (IEEE) of the payload u32 LE | payload: a StateChange (see super::codec)
//! ```
//!
//! - **Group commit.** [`JournalWriter`] hands the records of a control-loop iteration to its own thread, which
//!   writes everything queued and makes it durable with one `fdatasync`; [`JournalWriter::durable`] says up to
//!   which sequence number. The control thread never waits on the disk: it holds back the messages that promise
//!   a record until the record is durable.
//! - **Recovery.** [`load`] replays the file. A record cut short at the end (a crash mid-write: it was never
//!   durable, so nothing promised it) is dropped and the file is cut there. A bad record with valid data after
//!   it is corruption: the start stops with an error naming the file, unless the operator discards the state.
//! - **Compaction.** Once the file has grown to four times its size after the last compaction, a thread of its
//!   own reads it as a stream (where is each key's newest Put, then those frames in order) and writes the live
//!   records to a new file, while commits go on; the writer then appends what was committed meanwhile, syncs the
//!   new file and renames it over the old one. The file stays within a few times the live state, and the writer
//!   keeps no copy of the records in memory. A warm start goes on with the file it read
//!   ([`JournalWriter::adopt`]).
//!
//! Why a journal of our own rather than an embedded database: the state is a key → record map whose every
//! change must be durable before a message leaves, read back whole at start. An append and one `fdatasync` per
//! group is the least work a change can cost, and the map itself already lives in memory in the procedures.

use super::{codec, Owner, Record, RecordKey, Restored, StateChange};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

const MAGIC: &[u8; 8] = b"PMIPGWJ1";
const HEADER_LEN: usize = 16;
const FRAME_LEN: usize = 8;
/// Larger records than this are not ours (a BCE is some 150 bytes; the reservation set is the largest).
const MAX_RECORD: usize = 16 << 20;
/// A file smaller than this is never compacted.
const MIN_COMPACT_BYTES: u64 = 4 << 20;

/// Why the state could not be read or written.
#[derive(Debug, Error)]
pub enum StateError {
    #[error("cannot read state file {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("cannot write state file {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error("state file {path} is not a pmipgw journal (bad header)")]
    NotAJournal { path: String },
    #[error("state file {path} holds {found:?} state, this gateway is {want:?}")]
    WrongOwner { path: String, found: Owner, want: Owner },
    #[error("state file {path} is corrupt at byte {offset}: {why}")]
    Corrupt { path: String, offset: u64, why: String },
}

fn owner_byte(owner: Owner) -> u8 {
    match owner {
        Owner::Lma => 1,
        Owner::Mag => 2,
    }
}

fn header(owner: Owner) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8] = owner_byte(owner);
    h
}

/// Appends `change` framed to `buf`.
pub fn encode(change: &StateChange, buf: &mut Vec<u8>) {
    frame_with(buf, |payload| codec::encode(change, payload));
}

/// Appends a frame to `buf` whose payload `payload` appends.
fn frame_with(buf: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0; FRAME_LEN]);
    payload(buf);
    let payload_len = (buf.len() - start - FRAME_LEN) as u32;
    let crc = crc32fast::hash(&buf[start + FRAME_LEN..]);
    buf[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The changes a state machine wrote down since the I/O loop last took them, framed as the journal keeps them:
/// encoded once, where they are made, and appended to the journal as they are
/// ([`JournalWriter::append_outbox`]).
#[derive(Debug, Default)]
pub struct Outbox {
    frames: Vec<u8>,
    records: u64,
}

impl Outbox {
    /// Writes down `change`.
    pub fn put(&mut self, change: &StateChange) {
        encode(change, &mut self.frames);
        self.records += 1;
    }

    /// Writes down an LMA binding from its fields (no record built to be encoded).
    pub fn put_bce(&mut self, fields: &codec::BceFields<'_>) {
        frame_with(&mut self.frames, |payload| codec::encode_bce(fields, payload));
        self.records += 1;
    }

    /// Changes waiting.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The changes waiting, decoded (for tests and simulations: the journal takes the frames as they are).
    pub fn changes(&self) -> Vec<StateChange> {
        let mut changes = Vec::with_capacity(self.records as usize);
        let mut at = 0;
        while let Some(head) = self.frames.get(at..at + FRAME_LEN) {
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let Some(payload) = self.frames.get(at + FRAME_LEN..at + FRAME_LEN + len) else { break };
            changes.extend(codec::decode(payload).ok());
            at += FRAME_LEN + len;
        }
        changes
    }

    /// Takes the changes waiting, decoded, leaving none.
    pub fn take_changes(&mut self) -> Vec<StateChange> {
        let changes = self.changes();
        self.clear();
        changes
    }

    pub fn clear(&mut self) {
        self.frames.clear();
        self.records = 0;
    }
}

/// What [`load`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The newest value of every key.
    pub restored: Restored,
    /// Bytes of a record cut short at the end, dropped (0: the file ended cleanly).
    pub torn_bytes: u64,
    /// Records read.
    pub records: u64,
    pub file_bytes: u64,
    /// What a writer needs to go on with this file instead of rewriting it ([`JournalWriter::adopt`]).
    pub kept: Kept,
}

/// A journal as read, for its writer to go on with: where the valid records end.
#[derive(Debug, Default)]
pub struct Kept {
    valid_len: u64,
}

/// Reads the journal at `path`: None if there is none.
pub fn load(path: &Path, owner: Owner) -> Result<Option<Loaded>, StateError> {
    let shown = path.display().to_string();
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            // Read into a buffer of the file's size at once: growing it by doubling copies a large journal again.
            let size = f.metadata().map(|m| m.len() as usize).unwrap_or(0);
            bytes.reserve_exact(size.saturating_add(1));
            f.read_to_end(&mut bytes).map_err(|source| StateError::Read { path: shown.clone(), source })?
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Read { path: shown, source }),
    };
    let (records, loaded) = replay(&bytes, owner).map_err(|e| e.at(&shown))?;
    Ok(Some(Loaded { restored: Restored { records }, ..loaded }))
}

/// A replay error before it knows the file's name.
enum ReplayError {
    NotAJournal,
    WrongOwner(Owner),
    Corrupt(u64, String),
}

impl ReplayError {
    fn at(self, path: &str) -> StateError {
        let path = path.to_owned();
        match self {
            ReplayError::NotAJournal => StateError::NotAJournal { path },
            ReplayError::WrongOwner(found) => {
                let want = if found == Owner::Lma { Owner::Mag } else { Owner::Lma };
                StateError::WrongOwner { path, found, want }
            }
            ReplayError::Corrupt(offset, why) => StateError::Corrupt { path, offset, why },
        }
    }
}

/// The newest value of every key of the journal in `bytes`, in restore order.
fn replay(bytes: &[u8], owner: Owner) -> Result<(Vec<Record>, Loaded), ReplayError> {
    // Sized for the records the file can hold (a binding's record is 150-250 bytes).
    let mut changes = Vec::with_capacity(bytes.len() / 160);
    let loaded = walk(bytes, owner, |change| changes.push(change))?;
    Ok((newest(changes), loaded))
}

/// The newest value of every key among `changes` (in the journal's order), in [`RecordKey::restore_order`]; a
/// key whose newest change is a Delete has none. One sort of (key, place) pairs finds them: a map of a million
/// keys costs more in cache misses than the sort, and the restore wants them in order anyway.
fn newest(mut changes: Vec<StateChange>) -> Vec<Record> {
    let mut order: Vec<((u8, RecordKey), usize)> =
        changes.iter().enumerate().map(|(at, change)| (change.key().restore_order(), at)).collect();
    order.sort_unstable();
    let mut records = Vec::with_capacity(order.len());
    for (i, &(key, at)) in order.iter().enumerate() {
        // The last of a key's run is its newest change.
        if order.get(i + 1).is_some_and(|(next, _)| *next == key) {
            continue;
        }
        if let StateChange::Put(record) = std::mem::replace(&mut changes[at], StateChange::Delete(key.1)) {
            records.push(record);
        }
    }
    records
}

/// Every change of the journal in `bytes`, in order, to `each`; what the file held besides.
fn walk(bytes: &[u8], owner: Owner, mut each: impl FnMut(StateChange)) -> Result<Loaded, ReplayError> {
    let Some(head) = bytes.get(..HEADER_LEN).filter(|h| h[..8] == *MAGIC) else {
        return Err(ReplayError::NotAJournal);
    };
    if head[8] != owner_byte(owner) {
        let found = if head[8] == owner_byte(Owner::Lma) { Owner::Lma } else { Owner::Mag };
        return Err(if head[8] == 1 || head[8] == 2 {
            ReplayError::WrongOwner(found)
        } else {
            ReplayError::NotAJournal
        });
    }
    let mut loaded = Loaded { file_bytes: bytes.len() as u64, ..Default::default() };
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        let rest = &bytes[at..];
        // A frame that does not fit, or does not check, is a torn tail if nothing follows it.
        let frame = rest.get(..FRAME_LEN).map(|f| {
            let len = u32::from_le_bytes([f[0], f[1], f[2], f[3]]) as usize;
            let crc = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
            (len, crc)
        });
        let payload = frame.and_then(|(len, crc)| {
            let payload = rest.get(FRAME_LEN..FRAME_LEN + len)?;
            (len > 0 && len <= MAX_RECORD && crc32fast::hash(payload) == crc).then_some(payload)
        });
        let Some(payload) = payload else {
            let end = frame.map_or(bytes.len(), |(len, _)| at.saturating_add(FRAME_LEN).saturating_add(len));
            if end >= bytes.len() || bytes[at..].iter().all(|&b| b == 0) {
                loaded.torn_bytes = (bytes.len() - at) as u64;
                break;
            }
            return Err(ReplayError::Corrupt(at as u64, "a record fails its checksum and more records follow".into()));
        };
        let change = codec::decode(payload)
            .map_err(|e| ReplayError::Corrupt(at as u64, format!("a record that checks does not decode: {e}")))?;
        each(change);
        loaded.records += 1;
        at += FRAME_LEN + payload.len();
        loaded.kept.valid_len = at as u64;
    }
    loaded.kept.valid_len = loaded.kept.valid_len.max(HEADER_LEN as u64);
    Ok(loaded)
}

/// Figures for `pmipctl state`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct JournalStats {
    pub path: String,
    pub file_bytes: u64,
    /// Live records when the file was last compacted or written afresh (0 for a file adopted and not compacted
    /// since): the writer keeps no map of them between compactions.
    pub live_records: u64,
    pub commits: u64,
    pub records_written: u64,
    pub compactions: u64,
    pub last_commit_us: u64,
    /// The writer failed (disk full, I/O error): nothing is acknowledged until the gateway restarts.
    pub failed: Option<String>,
}

/// What the writer thread and the control thread share.
#[derive(Debug, Default)]
struct Shared {
    /// Every record with a sequence number up to this is durable.
    durable: AtomicU64,
    /// Least time between the starts of two commits, microseconds ([`JournalWriter::set_min_commit_interval`]).
    min_commit_interval_us: AtomicU64,
    /// Records live in the procedures' state, as the caller last said ([`JournalWriter::set_live_records`]).
    live_records: AtomicU64,
    failed: AtomicBool,
    stats: Mutex<JournalStats>,
}

/// A batch for the writer: framed records, how many, and the last sequence number among them.
struct Batch {
    bytes: Vec<u8>,
    records: u64,
    last_seq: u64,
}

/// Appends to a journal from the control thread; its thread makes the records durable. See the module docs.
pub struct JournalWriter {
    pending: Batch,
    next_seq: u64,
    shared: Arc<Shared>,
    tx: Option<std::sync::mpsc::Sender<Batch>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter").field("next_seq", &self.next_seq).finish()
    }
}

impl JournalWriter {
    /// Starts the journal at `path` afresh with `snapshot` (the state a warm start restored, or nothing): it is
    /// written to a new file, synced and renamed over any old one, so a crash during this leaves the old file.
    /// `wake` is called after each commit (to wake the control loop).
    pub fn create(
        path: &Path,
        owner: Owner,
        snapshot: &[StateChange],
        wake: Box<dyn Fn() + Send>,
    ) -> Result<JournalWriter, StateError> {
        let shown = path.display().to_string();
        let err = |source| StateError::Write { path: shown.clone(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(err)?;
        }
        let mut frames = Vec::new();
        let mut records = 0;
        for change in snapshot.iter().filter(|c| matches!(c, StateChange::Put(_))) {
            encode(change, &mut frames);
            records += 1;
        }
        let file = rewrite(path, owner, &frames).map_err(err)?;
        Self::start(path, owner, file, records, wake)
    }

    /// Goes on with the journal [`load`] read at `path`, as it is, instead of rewriting it: a warm start of a
    /// million bindings then writes only what the restore changed. A record cut short at the end is cut off
    /// (and the cut synced) before anything is appended.
    pub fn adopt(
        path: &Path,
        owner: Owner,
        kept: Kept,
        wake: Box<dyn Fn() + Send>,
    ) -> Result<JournalWriter, StateError> {
        let shown = path.display().to_string();
        let err = |source| StateError::Write { path: shown.clone(), source };
        let file = OpenOptions::new().write(true).open(path).map_err(err)?;
        if file.metadata().map_err(err)?.len() != kept.valid_len {
            file.set_len(kept.valid_len).map_err(err)?;
            file.sync_all().map_err(err)?;
        }
        drop(file);
        let file = OpenOptions::new().append(true).open(path).map_err(err)?;
        // How many of its records are live is known at its first compaction.
        Self::start(path, owner, file, 0, wake)
    }

    fn start(
        path: &Path,
        owner: Owner,
        file: File,
        live_records: u64,
        wake: Box<dyn Fn() + Send>,
    ) -> Result<JournalWriter, StateError> {
        let shown = path.display().to_string();
        let err = |source| StateError::Write { path: shown.clone(), source };
        let file_bytes = file.metadata().map_err(err)?.len();
        let stats = JournalStats { path: shown.clone(), file_bytes, live_records, ..Default::default() };
        let shared = Arc::new(Shared { stats: Mutex::new(stats), ..Default::default() });
        let (tx, rx) = std::sync::mpsc::channel::<Batch>();
        let thread = {
            let shared = Arc::clone(&shared);
            let mut w = Writer {
                path: path.to_owned(),
                owner,
                file,
                file_bytes,
                compacted_bytes: file_bytes,
                compaction: None,
                puts: 0,
                put_bytes: 0,
                shared,
                wake,
            };
            std::thread::Builder::new().name("pmipgw-journal".into()).spawn(move || w.run(rx)).map_err(err)?
        };
        Ok(JournalWriter {
            pending: Batch { bytes: Vec::new(), records: 0, last_seq: 0 },
            next_seq: 1,
            shared,
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a change; returns its sequence number (durable once [`durable`](Self::durable) reaches it).
    pub fn append(&mut self, change: &StateChange) -> u64 {
        encode(change, &mut self.pending.bytes);
        self.queued(1)
    }

    /// Queues what `outbox` holds, leaving it empty; returns the last sequence number (unchanged if it held
    /// nothing).
    pub fn append_outbox(&mut self, outbox: &mut Outbox) -> u64 {
        if outbox.records == 0 {
            return self.last_seq();
        }
        if self.pending.bytes.is_empty() {
            // The outbox's room becomes the batch's and the other way round: no copy.
            std::mem::swap(&mut self.pending.bytes, &mut outbox.frames);
        } else {
            self.pending.bytes.extend_from_slice(&outbox.frames);
        }
        let records = outbox.records;
        outbox.clear();
        self.queued(records)
    }

    /// Numbers the `records` just queued; returns the last number.
    fn queued(&mut self, records: u64) -> u64 {
        self.pending.records += records;
        self.next_seq += records;
        self.pending.last_seq = self.next_seq - 1;
        self.pending.last_seq
    }

    /// The last sequence number handed out (0: none).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Hands what was appended since the last call to the writer thread (once per control-loop iteration).
    pub fn flush(&mut self) {
        if self.pending.records == 0 {
            return;
        }
        // The next batch starts with the room this one needed, not from nothing.
        let room = Batch { bytes: Vec::with_capacity(self.pending.bytes.capacity()), records: 0, last_seq: 0 };
        let batch = std::mem::replace(&mut self.pending, room);
        if let Some(tx) = &self.tx {
            let _ = tx.send(batch);
        }
    }

    /// At most one commit per `interval`: under load more changes share a commit (fewer syncs), and each waits
    /// up to `interval` longer; a commit after a quiet spell starts at once. Zero (the default): every commit
    /// starts as soon as the previous one is done.
    pub fn set_min_commit_interval(&self, interval: Duration) {
        let us = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
        self.shared.min_commit_interval_us.store(us, Ordering::Relaxed);
    }

    /// How many records the state holds now (its bindings): with the mean size of a record written, the writer
    /// compacts once the file is four times what they take, not merely four times its last compacted size —
    /// so a growing state is not rewritten at every doubling.
    pub fn set_live_records(&self, records: u64) {
        self.shared.live_records.store(records, Ordering::Relaxed);
    }

    /// Every change with a sequence number up to this is durable.
    pub fn durable(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> JournalStats {
        self.shared.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Writes what is queued, waits until it is durable and stops the thread.
    pub fn close(&mut self) {
        self.flush();
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// Writes a new journal holding `frames` (framed records) next to `path`, syncs it and renames it over `path`;
/// returns the new file open for appending.
fn rewrite(path: &Path, owner: Owner, frames: &[u8]) -> io::Result<File> {
    let tmp = PathBuf::from(format!("{}.new", path.display()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&header(owner))?;
        f.write_all(frames)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(path)?;
    OpenOptions::new().append(true).open(path)
}

/// Makes a rename in `path`'s directory durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Every record of the journal at `path` up to `covered`, with its offset and its frame (length, CRC, payload),
/// read as a stream: a compaction of a journal four times the live state never holds it in memory.
fn each_frame(path: &Path, covered: u64, mut each: impl FnMut(u64, &[u8]) -> io::Result<()>) -> io::Result<()> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let mut reader = io::BufReader::with_capacity(1 << 20, File::open(path)?.take(covered));
    let mut head = [0u8; HEADER_LEN];
    reader.read_exact(&mut head)?;
    let mut frame = Vec::new();
    let mut offset = HEADER_LEN as u64;
    while offset < covered {
        frame.resize(FRAME_LEN, 0);
        reader.read_exact(&mut frame)?;
        let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        if len == 0 || len > MAX_RECORD {
            return Err(bad("a record's length is not a record's"));
        }
        frame.resize(FRAME_LEN + len, 0);
        reader.read_exact(&mut frame[FRAME_LEN..])?;
        if crc32fast::hash(&frame[FRAME_LEN..]) != crc {
            return Err(bad("a record fails its checksum"));
        }
        each(offset, &frame)?;
        offset += frame.len() as u64;
    }
    Ok(())
}

/// What a compaction wrote: `tmp` holds the live records of the journal's first `covered` bytes.
struct Compacted {
    tmp: PathBuf,
    covered: u64,
    bytes: u64,
    records: u64,
}

/// Writes the newest Put of every key of the journal's first `covered` bytes to a new file beside it, synced: one
/// pass finds where each key's newest Put is, a second copies those frames in file order.
fn compact(path: &Path, owner: Owner, covered: u64) -> io::Result<Compacted> {
    let mut newest: HashMap<RecordKey, u64> = HashMap::new();
    each_frame(path, covered, |offset, frame| {
        match codec::decode(&frame[FRAME_LEN..]).map_err(io::Error::other)? {
            StateChange::Put(record) => newest.insert(record.key(), offset),
            StateChange::Delete(key) => newest.remove(&key),
        };
        Ok(())
    })?;
    let mut keep: Vec<u64> = newest.into_values().collect();
    keep.sort_unstable();
    let tmp = PathBuf::from(format!("{}.new", path.display()));
    let mut out = io::BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    out.write_all(&header(owner))?;
    let mut bytes = HEADER_LEN as u64;
    let mut next = keep.iter().peekable();
    each_frame(path, covered, |offset, frame| {
        if next.next_if_eq(&&offset).is_some() {
            out.write_all(frame)?;
            bytes += frame.len() as u64;
        }
        Ok(())
    })?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(Compacted { tmp, covered, bytes, records: keep.len() as u64 })
}

/// The writer thread's side.
struct Writer {
    path: PathBuf,
    owner: Owner,
    file: File,
    /// The file's length, as written.
    file_bytes: u64,
    /// Its length after the last compaction (or at the start): the next starts once the file is four times that.
    compacted_bytes: u64,
    /// A compaction under way on a thread of its own.
    compaction: Option<JoinHandle<io::Result<Compacted>>>,
    /// Records written and their bytes (frames), for their mean size.
    puts: u64,
    put_bytes: u64,
    shared: Arc<Shared>,
    wake: Box<dyn Fn() + Send>,
}

impl Writer {
    fn run(&mut self, rx: std::sync::mpsc::Receiver<Batch>) {
        let mut last_commit: Option<Instant> = None;
        while let Ok(first) = rx.recv() {
            let interval = Duration::from_micros(self.shared.min_commit_interval_us.load(Ordering::Relaxed));
            if let Some(wait) = last_commit.and_then(|last| interval.checked_sub(last.elapsed())) {
                std::thread::sleep(wait);
            }
            last_commit = Some(Instant::now());
            // Everything queued meanwhile goes in the same commit.
            let mut batches = vec![first];
            batches.extend(rx.try_iter());
            if self.shared.failed.load(Ordering::Relaxed) {
                continue;
            }
            let started = Instant::now();
            match self.commit(&batches) {
                Ok(()) => {
                    let last = batches.iter().map(|b| b.last_seq).max().unwrap_or(0);
                    self.shared.durable.store(last, Ordering::Release);
                    if let Ok(mut s) = self.shared.stats.lock() {
                        s.commits += 1;
                        s.records_written += batches.iter().map(|b| b.records).sum::<u64>();
                        s.last_commit_us = started.elapsed().as_micros() as u64;
                        s.file_bytes = self.file_bytes;
                    }
                    (self.wake)();
                    self.finish_compaction();
                    self.maybe_compact();
                }
                Err(e) => {
                    let why = format!("cannot write state file {}: {e}", self.path.display());
                    tracing_free_log(&why);
                    self.shared.failed.store(true, Ordering::Relaxed);
                    if let Ok(mut s) = self.shared.stats.lock() {
                        s.failed = Some(why);
                    }
                }
            }
        }
        // Closing: a compaction still under way is waited for and its file dropped (the journal is whole as it is).
        if let Some(compaction) = self.compaction.take() {
            if let Ok(Ok(compacted)) = compaction.join() {
                let _ = fs::remove_file(&compacted.tmp);
            }
        }
    }

    fn commit(&mut self, batches: &[Batch]) -> io::Result<()> {
        for batch in batches {
            self.file.write_all(&batch.bytes)?;
            self.file_bytes += batch.bytes.len() as u64;
            self.puts += batch.records;
            self.put_bytes += batch.bytes.len() as u64;
        }
        self.file.sync_data()
    }

    /// Starts a compaction once the file has grown to four times its size after the last one: a thread of its
    /// own writes the live records of what is in the file now to a new file, while commits go on.
    fn maybe_compact(&mut self) {
        // What the live records take: as many as the state holds now, at the mean size of a record written.
        let live = self.shared.live_records.load(Ordering::Relaxed);
        let mean = self.put_bytes / self.puts.max(1);
        let live_bytes = self.compacted_bytes.max(live.saturating_mul(mean));
        if self.compaction.is_some() || self.file_bytes < MIN_COMPACT_BYTES.max(live_bytes.saturating_mul(4)) {
            return;
        }
        let (path, owner, covered) = (self.path.clone(), self.owner, self.file_bytes);
        let started =
            std::thread::Builder::new().name("pmipgw-compact".into()).spawn(move || compact(&path, owner, covered));
        match started {
            Ok(compaction) => self.compaction = Some(compaction),
            Err(e) => tracing_free_log(&format!("cannot start compacting {}: {e}", self.path.display())),
        }
    }

    /// Once a compaction has written its file: the records committed since it read the journal are appended to
    /// it, it is synced and renamed over the journal, and appending goes on there. A crash before the rename
    /// leaves the old file whole; after it, the new one holds everything.
    fn finish_compaction(&mut self) {
        let Some(compaction) = self.compaction.take_if(|c| c.is_finished()) else { return };
        let outcome = match compaction.join() {
            Ok(Ok(compacted)) => self.swap(&compacted).map(|()| compacted),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the compaction thread failed")),
        };
        match outcome {
            Ok(compacted) => {
                if let Ok(mut s) = self.shared.stats.lock() {
                    s.compactions += 1;
                    s.file_bytes = self.file_bytes;
                    s.live_records = compacted.records;
                }
            }
            // The old file is still whole and still appended to: compaction is tried again as the file grows.
            Err(e) => {
                tracing_free_log(&format!("compacting {} failed: {e}", self.path.display()));
                self.compacted_bytes = self.file_bytes;
            }
        }
    }

    fn swap(&mut self, compacted: &Compacted) -> io::Result<()> {
        let mut tail = Vec::new();
        let mut old = File::open(&self.path)?;
        old.seek(io::SeekFrom::Start(compacted.covered))?;
        old.read_to_end(&mut tail)?;
        let mut new = OpenOptions::new().append(true).open(&compacted.tmp)?;
        new.write_all(&tail)?;
        new.sync_all()?;
        fs::rename(&compacted.tmp, &self.path)?;
        sync_dir(&self.path)?;
        // The handle follows the file to its new name.
        self.file = new;
        self.file_bytes = compacted.bytes + tail.len() as u64;
        self.compacted_bytes = compacted.bytes;
        Ok(())
    }
}

/// The controlplane crate does not log; the writer's rare failures go to standard error, and to the stats.
fn tracing_free_log(line: &str) {
    eprintln!("pmipgw: {line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::ReservationRecord;
    use crate::durable::{PdnRecord, Record};
    use std::sync::mpsc;
    use std::time::Duration;

    fn reservation(key: u32) -> StateChange {
        let pdn = PdnRecord {
            mn_id_subtype: 1,
            mn_id: b"ue@x".to_vec(),
            apn: crate::wire::Apn::from_dotted("internet").unwrap(),
            pdn_connection_id: None,
        };
        StateChange::Put(Record::Reservations(vec![ReservationRecord { key, pdn }]))
    }

    fn peer(last: u8, counter: u32) -> StateChange {
        StateChange::Put(Record::Peer { peer: IpAddr::from([192, 0, 2, last]), restart_counter: counter })
    }

    use std::net::IpAddr;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pmipgw-journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn writer(path: &Path, snapshot: &[StateChange]) -> (JournalWriter, mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::channel();
        let wake = Box::new(move || {
            let _ = tx.send(());
        });
        (JournalWriter::create(path, Owner::Lma, snapshot, wake).unwrap(), rx)
    }

    #[test]
    fn records_are_durable_in_groups_and_read_back_newest_first() {
        let path = dir("groups").join("lma.journal");
        let (mut w, woken) = writer(&path, &[peer(1, 7)]);
        let a = w.append(&peer(2, 1));
        let b = w.append(&peer(2, 2));
        assert_eq!((a, b, w.durable()), (1, 2, 0));
        w.flush();
        woken.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(w.durable(), 2);
        w.append(&StateChange::Delete(RecordKey::Peer(IpAddr::from([192, 0, 2, 1]))));
        w.append(&reservation(9));
        w.close();
        let loaded = load(&path, Owner::Lma).unwrap().unwrap();
        assert_eq!(loaded.records, 5, "the snapshot's one and the four appended");
        let want = vec![
            Record::Reservations(vec![ReservationRecord {
                key: 9,
                pdn: PdnRecord {
                    mn_id_subtype: 1,
                    mn_id: b"ue@x".to_vec(),
                    apn: crate::wire::Apn::from_dotted("internet").unwrap(),
                    pdn_connection_id: None,
                },
            }]),
            Record::Peer { peer: IpAddr::from([192, 0, 2, 2]), restart_counter: 2 },
        ];
        assert_eq!(loaded.restored.records, want);
        assert_eq!(w.stats().live_records, 1, "the snapshot's, as written: counted again at the next compaction");
        assert!(matches!(load(&path, Owner::Mag), Err(StateError::WrongOwner { .. })), "an LMA's state is no MAG's");
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn the_newest_change_of_each_key_wins_and_the_records_come_in_restore_order() {
        let gone = |last| StateChange::Delete(RecordKey::Peer(IpAddr::from([192, 0, 2, last])));
        let changes = vec![
            peer(3, 1),
            peer(1, 1),
            reservation(9),
            gone(3),
            peer(1, 5),
            gone(2),
            peer(3, 4),
            reservation(10),
            peer(4, 1),
            gone(4),
        ];
        let StateChange::Put(reservations) = reservation(10) else { unreachable!() };
        let want = vec![
            reservations,
            Record::Peer { peer: IpAddr::from([192, 0, 2, 1]), restart_counter: 5 },
            Record::Peer { peer: IpAddr::from([192, 0, 2, 3]), restart_counter: 4 },
        ];
        assert_eq!(newest(changes), want, "put again after a delete is back; deleted last is gone");
    }

    #[test]
    fn a_journal_an_earlier_version_wrote_in_postcard_loads_and_goes_on_in_the_fixed_layout() {
        let path = dir("postcard").join("lma.journal");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut file = header(Owner::Lma).to_vec();
        for change in [peer(1, 1), reservation(9), peer(2, 1)] {
            let payload = postcard::to_allocvec(&change).unwrap();
            file.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            file.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            file.extend_from_slice(&payload);
        }
        fs::write(&path, &file).unwrap();
        let loaded = load(&path, Owner::Lma).unwrap().unwrap();
        assert_eq!((loaded.records, loaded.restored.records.len()), (3, 3));
        // Adopted, it goes on in the fixed layout: the file then holds both, and reads back whole.
        let mut w = JournalWriter::adopt(&path, Owner::Lma, loaded.kept, Box::new(|| {})).unwrap();
        w.append(&peer(1, 2));
        w.close();
        let loaded = load(&path, Owner::Lma).unwrap().unwrap();
        assert_eq!(loaded.records, 4);
        assert!(loaded
            .restored
            .records
            .contains(&Record::Peer { peer: IpAddr::from([192, 0, 2, 1]), restart_counter: 2 }));
        assert_eq!(loaded.restored.records.len(), 3);
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn an_outbox_is_appended_as_its_records_in_order_and_left_empty() {
        let path = dir("outbox").join("lma.journal");
        let (mut w, woken) = writer(&path, &[]);
        let mut outbox = Outbox::default();
        assert_eq!(w.append_outbox(&mut outbox), 0, "an empty outbox queues nothing");
        outbox.put(&peer(1, 1));
        outbox.put(&peer(2, 1));
        assert_eq!(outbox.changes(), vec![peer(1, 1), peer(2, 1)]);
        // Into an empty batch (the outbox's frames taken as they are), then behind a record already queued.
        assert_eq!((w.append_outbox(&mut outbox), outbox.records(), outbox.changes()), (2, 0, vec![]));
        w.append(&peer(1, 2));
        outbox.put(&StateChange::Delete(RecordKey::Peer(IpAddr::from([192, 0, 2, 2]))));
        assert_eq!(w.append_outbox(&mut outbox), 4);
        w.flush();
        woken.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(w.durable(), 4);
        w.close();
        let loaded = load(&path, Owner::Lma).unwrap().unwrap();
        assert_eq!(loaded.records, 4);
        assert_eq!(
            loaded.restored.records,
            vec![Record::Peer { peer: IpAddr::from([192, 0, 2, 1]), restart_counter: 2 }]
        );
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_torn_tail_is_dropped_and_corruption_in_the_middle_is_an_error() {
        let path = dir("torn").join("lma.journal");
        let (mut w, _woken) = writer(&path, &[]);
        for n in 0..3 {
            w.append(&peer(n, u32::from(n)));
        }
        w.close();
        let whole = fs::read(&path).unwrap();
        let record = (whole.len() - HEADER_LEN) / 3;
        // Every cut inside the last record loses that record only.
        for cut in 1..record {
            fs::write(&path, &whole[..whole.len() - cut]).unwrap();
            let loaded = load(&path, Owner::Lma).unwrap().unwrap();
            assert_eq!((loaded.records, loaded.torn_bytes), (2, (record - cut) as u64), "cut {cut}");
        }
        // Zeros after the end (a file extended but not written) are a torn tail too.
        let mut zeros = whole.clone();
        zeros.extend_from_slice(&[0u8; 64]);
        fs::write(&path, &zeros).unwrap();
        assert_eq!(load(&path, Owner::Lma).unwrap().unwrap().records, 3);
        // A flipped byte in the first record, with two good ones after it: corrupt, named.
        let mut flipped = whole.clone();
        flipped[HEADER_LEN + FRAME_LEN + 1] ^= 0x40;
        fs::write(&path, &flipped).unwrap();
        let err = load(&path, Owner::Lma).unwrap_err().to_string();
        assert!(err.contains("lma.journal") && err.contains("corrupt at byte 16"), "{err}");
        fs::write(&path, b"not a journal at all").unwrap();
        assert!(matches!(load(&path, Owner::Lma), Err(StateError::NotAJournal { .. })));
        fs::remove_file(&path).unwrap();
        assert!(load(&path, Owner::Lma).unwrap().is_none(), "no file: no state");
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn an_adopted_journal_goes_on_after_its_last_good_record_and_compacts_what_it_read() {
        let path = dir("adopt").join("lma.journal");
        let (mut w, _woken) = writer(&path, &[]);
        for n in 0..3 {
            w.append(&peer(n, u32::from(n)));
        }
        w.close();
        // A crash mid-write: half a record at the end.
        let mut torn = fs::read(&path).unwrap();
        let whole = torn.len();
        torn.extend_from_within(HEADER_LEN..HEADER_LEN + 10);
        fs::write(&path, &torn).unwrap();
        let loaded = load(&path, Owner::Lma).unwrap().unwrap();
        assert_eq!((loaded.records, loaded.torn_bytes), (3, 10));
        let mut w = JournalWriter::adopt(&path, Owner::Lma, loaded.kept, Box::new(|| {})).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), whole as u64, "the torn tail is cut off first");
        w.append(&peer(1, 11));
        w.append(&StateChange::Delete(RecordKey::Peer(IpAddr::from([192, 0, 2, 0]))));
        w.close();
        let again = load(&path, Owner::Lma).unwrap().unwrap();
        assert_eq!((again.records, again.torn_bytes), (5, 0), "appended behind the three, nothing lost or torn");
        let want = vec![
            Record::Peer { peer: IpAddr::from([192, 0, 2, 1]), restart_counter: 11 },
            Record::Peer { peer: IpAddr::from([192, 0, 2, 2]), restart_counter: 2 },
        ];
        assert_eq!(again.restored.records, want);
        // A compaction of the adopted file, on a thread of its own while appends go on, keeps what it adopted,
        // with what was appended since on top.
        let mut w = JournalWriter::adopt(&path, Owner::Lma, again.kept, Box::new(|| {})).unwrap();
        let mut n = 0u32;
        while w.stats().compactions == 0 {
            for _ in 0..10_000 {
                w.append(&peer(100, n));
                n += 1;
            }
            w.flush();
            std::thread::sleep(Duration::from_millis(5));
            assert!(n < 10_000_000, "no compaction");
            eprintln!("DBG n={n} {:?}", w.stats());
        }
        assert_eq!(w.stats().live_records, 3, "the two adopted and the one appended since, at the compaction");
        w.close();
        let compacted = load(&path, Owner::Lma).unwrap().unwrap();
        assert_eq!(compacted.restored.records.len(), 3);
        assert_eq!(compacted.restored.records[..2], want[..]);
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_minimum_commit_interval_makes_changes_queued_meanwhile_share_a_commit() {
        const INTERVAL: Duration = Duration::from_secs(1);
        let path = dir("interval").join("lma.journal");
        let (mut w, _woken) = writer(&path, &[]);
        let durable = |w: &JournalWriter, seq: u64| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while w.durable() < seq {
                assert!(Instant::now() < deadline, "change {seq} never became durable");
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        let before = w.stats().commits;
        w.set_min_commit_interval(INTERVAL);
        // After a quiet spell the first change is committed at once; the next two, flushed 50 ms apart (time
        // enough for the writer to commit the first alone, were there no interval) wait for the interval and
        // share one commit.
        let a = w.append(&peer(1, 1));
        w.flush();
        durable(&w, a);
        w.append(&peer(2, 2));
        w.flush();
        std::thread::sleep(Duration::from_millis(50));
        let c = w.append(&peer(3, 3));
        w.flush();
        durable(&w, c);
        assert_eq!(w.stats().commits - before, 2, "{:?}", w.stats());
        w.close();
        let loaded = load(&path, Owner::Lma).unwrap().unwrap();
        assert_eq!(loaded.restored.records.len(), 3);
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_state_said_to_be_large_is_not_compacted_for_growing() {
        let path = dir("live-hint").join("lma.journal");
        let (mut w, woken) = writer(&path, &[]);
        // A million live records said: 8 MB of appends is growth, not garbage (four times the live size is far).
        w.set_live_records(1_000_000);
        let mut n = 0u32;
        let commit = |w: &mut JournalWriter, n: &mut u32| {
            for _ in 0..10_000 {
                w.append(&peer((*n % 10) as u8, *n));
                *n += 1;
            }
            w.flush();
            woken.recv_timeout(Duration::from_secs(5)).unwrap();
        };
        while fs::metadata(&path).unwrap().len() < 2 * MIN_COMPACT_BYTES {
            commit(&mut w, &mut n);
        }
        assert_eq!(w.stats().compactions, 0, "{:?}", w.stats());
        // Ten live records after all: the garbage is compacted away.
        w.set_live_records(10);
        while w.stats().compactions == 0 {
            commit(&mut w, &mut n);
            assert!(n < 10_000_000, "no compaction");
            eprintln!("DBG n={n} {:?}", w.stats());
        }
        w.close();
        assert_eq!(load(&path, Owner::Lma).unwrap().unwrap().restored.records.len(), 10);
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn compaction_keeps_the_live_records_only() {
        let path = dir("compact").join("lma.journal");
        let (mut w, woken) = writer(&path, &[]);
        // Rewrite the same 10 keys: past the compaction threshold, then in single records (each commit gives the
        // writer a turn to swap the compacted file in) until the compaction is done; twice.
        let mut n = 0u32;
        let mut append = |w: &mut JournalWriter, records: u32| {
            for _ in 0..records {
                w.append(&peer((n % 10) as u8, n));
                n += 1;
            }
            w.flush();
            let _ = woken.recv_timeout(Duration::from_secs(5));
        };
        for round in 1..=2 {
            while w.stats().file_bytes < MIN_COMPACT_BYTES {
                append(&mut w, 10_000);
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            while w.stats().compactions < round {
                append(&mut w, 1);
                std::thread::sleep(Duration::from_millis(1));
                assert!(Instant::now() < deadline, "compaction {round} never finished");
            }
        }
        let n = w.last_seq() as u32;
        w.close();
        let loaded = load(&path, Owner::Lma).unwrap().unwrap();
        assert_eq!(loaded.restored.records.len(), 10);
        assert!(loaded.file_bytes < 2 * MIN_COMPACT_BYTES, "{} bytes", loaded.file_bytes);
        // The newest counter written for key k (counter m went to key m % 10).
        let newest = |k: u32| n - 1 - (n - 1 - k) % 10;
        let last = |k: u8| Record::Peer { peer: IpAddr::from([192, 0, 2, k]), restart_counter: newest(u32::from(k)) };
        assert_eq!(loaded.restored.records, (0..10).map(last).collect::<Vec<_>>());
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }
}
