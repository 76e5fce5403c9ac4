//! Log lines leave the request's thread as a copy into a shared buffer; a writer thread sends
//! what gathered to stdout in one `write(2)` per [`FLUSH_INTERVAL`].
//!
//! A `write(2)` per line on the request thread was a visible share of every service's CPU.
//! tracing-appender's `non_blocking` would move that write off the thread but still write (and
//! wake its worker) once per line at our rates, and allocate each line. Here, under load, a
//! line costs a lock and a copy, and the writer thread wakes once per interval.
//!
//! Lines are written whole and in the order they were logged; to a pipe or a terminal, which
//! processes may share (`tracemart up --attach-logs`), in writes of at most `PIPE_BUF` bytes,
//! so that no other process's line lands inside one of ours. When [`LogWriterGuard`] is
//! dropped (the telemetry guard, at shutdown and on SIGTERM) everything buffered is written
//! and later lines are written directly. A process killed with SIGKILL loses at most the last
//! interval's lines.
//!
//! Writing to a log file instead ([`LogWriter::to_file`]), standard output and error are
//! pointed at the file and the file is rotated by size between batches (see [`Rotation`]).

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::rotation::{self, Follows, Rotation};
use crate::config::LogFile;

/// How long lines may wait before they are written: short enough for `tail -f` and tests
/// that poll the file, long enough that a busy service writes many lines at once.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Beyond this many buffered bytes the logging thread writes them itself, so memory stays
/// bounded when the writer thread falls behind (a slow disk).
const HIGH_WATER: usize = 256 * 1024;

/// The largest write the kernel keeps whole on a pipe (Linux's `PIPE_BUF`).
const PIPE_BUF: usize = 4096;

/// Where lines go; cheap to clone.
#[derive(Clone)]
pub(crate) struct LogWriter {
    shared: Arc<Shared>,
}

/// Writes what is buffered and stops the writer thread when dropped.
pub(crate) struct LogWriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer thread: a first line after a quiet spell, or closing.
    wake: Condvar,
    /// Held from taking a batch until it is written, so batches reach the output in order.
    output: Mutex<Output>,
}

struct Pending {
    buf: Vec<u8>,
    /// The writer thread waits for a first line and must be woken.
    idle: bool,
    closed: bool,
}

struct Output {
    /// The buffer swapped with `Pending::buf`, so steady state allocates nothing.
    batch: Vec<u8>,
    sink: Box<dyn Write + Send>,
    /// Largest write that may hold more than one line.
    max_write: usize,
    /// Set when writing to a log file that is rotated by size.
    rotation: Option<Rotation>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; if it did, the buffers are still whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LogWriter {
    /// A writer to this process's standard output.
    pub(crate) fn stdout() -> std::io::Result<(LogWriter, LogWriterGuard)> {
        let regular_file = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .and_then(|f| f.metadata())
            .is_ok_and(|m| m.is_file());
        let max_write = if regular_file { usize::MAX } else { PIPE_BUF };
        Self::new(Box::new(std::io::stdout()), max_write)
    }

    /// A writer to `file`, rotated by size; this process's standard output and error are
    /// pointed at it (and at each new file after a rotation).
    pub(crate) fn to_file(file: &LogFile) -> std::io::Result<(LogWriter, LogWriterGuard)> {
        rotation::redirect_std_streams(&file.path)?;
        let rotation = Rotation::new(file, Follows::StdStreams);
        Self::spawn(Box::new(std::io::stdout()), usize::MAX, Some(rotation))
    }

    /// As [`LogWriter::to_file`], but the standard streams stay where they are.
    #[cfg(test)]
    fn to_file_only(file: &LogFile) -> std::io::Result<(LogWriter, LogWriterGuard)> {
        let sink = rotation::open_append(&file.path)?;
        let rotation = Rotation::new(file, Follows::Sink);
        Self::spawn(Box::new(sink), usize::MAX, Some(rotation))
    }

    /// A writer to `sink`, in writes of at most `max_write` bytes unless a line is longer,
    /// and the guard that owns its thread.
    pub(crate) fn new(
        sink: Box<dyn Write + Send>,
        max_write: usize,
    ) -> std::io::Result<(LogWriter, LogWriterGuard)> {
        Self::spawn(sink, max_write, None)
    }

    fn spawn(
        sink: Box<dyn Write + Send>,
        max_write: usize,
        rotation: Option<Rotation>,
    ) -> std::io::Result<(LogWriter, LogWriterGuard)> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(16 * 1024),
                idle: false,
                closed: false,
            }),
            wake: Condvar::new(),
            output: Mutex::new(Output {
                batch: Vec::with_capacity(16 * 1024),
                sink,
                max_write,
                rotation,
            }),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("tracemart-log-writer".into())
                .spawn(move || shared.run())?
        };
        Ok((
            LogWriter {
                shared: shared.clone(),
            },
            LogWriterGuard {
                shared,
                thread: Some(thread),
            },
        ))
    }

    /// Queues one complete line (with its newline).
    pub(crate) fn write_line(&self, line: &[u8]) {
        let mut p = lock(&self.shared.pending);
        p.buf.extend_from_slice(line);
        let write_now = p.closed || p.buf.len() >= HIGH_WATER;
        let wake = std::mem::take(&mut p.idle);
        drop(p);
        if write_now {
            self.shared.flush();
        } else if wake {
            self.shared.wake.notify_one();
        }
    }
}

impl LogWriterGuard {
    /// Writes everything queued so far before returning.
    pub(crate) fn flush(&self) {
        self.shared.flush();
    }
}

impl Shared {
    /// The writer thread: wait for a line, let more gather for an interval, write them all.
    fn run(&self) {
        loop {
            let mut p = lock(&self.pending);
            while p.buf.is_empty() && !p.closed {
                p.idle = true;
                p = self.wake.wait(p).unwrap_or_else(PoisonError::into_inner);
            }
            p.idle = false;
            if !p.closed {
                // Only closing wakes this wait early (producers wake an idle thread only).
                p = self
                    .wake
                    .wait_timeout(p, FLUSH_INTERVAL)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            let closed = p.closed;
            drop(p);
            self.flush();
            if closed {
                return;
            }
        }
    }

    fn flush(&self) {
        let mut out = lock(&self.output);
        let out = &mut *out;
        std::mem::swap(&mut lock(&self.pending).buf, &mut out.batch);
        if out.batch.is_empty() {
            return;
        }
        let mut rest = &out.batch[..];
        while !rest.is_empty() {
            let end = chunk_end(rest, out.max_write);
            // A failed write (stdout closed) loses these lines, as a failed write(2) always did.
            let _ = out.sink.write_all(&rest[..end]);
            rest = &rest[end..];
        }
        let _ = out.sink.flush();
        if let Some(rotation) = &mut out.rotation
            && let Err(e) = rotation.wrote(out.batch.len(), &mut out.sink)
        {
            // Lines keep going to the current file; the next attempt comes after another
            // file's worth of them.
            let _ = writeln!(
                out.sink,
                "cannot rotate the log file {}: {e}",
                rotation.path().display()
            );
        }
        out.batch.clear();
        if out.batch.capacity() > HIGH_WATER {
            out.batch.shrink_to(16 * 1024);
        }
    }
}

/// Where the next write ends: after the last whole line that fits in `max` bytes, or after
/// the first line if even that one is longer.
fn chunk_end(buf: &[u8], max: usize) -> usize {
    if buf.len() <= max {
        return buf.len();
    }
    let newline = |b: &u8| *b == b'\n';
    buf[..max]
        .iter()
        .rposition(newline)
        .or_else(|| buf.iter().position(newline))
        .map_or(buf.len(), |i| i + 1)
}

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        lock(&self.shared.pending).closed = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Lines queued while the thread was stopping.
        self.shared.flush();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A sink the test can read, counting the writes it receives.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut c = self.0.lock().unwrap();
            c.0.extend_from_slice(buf);
            c.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_order_and_together_and_all_of_them_on_drop() {
        let capture = Capture::default();
        let (writer, guard) = LogWriter::new(Box::new(capture.clone()), usize::MAX).unwrap();
        let lines: Vec<String> = (0..1000).map(|i| format!("line {i}\n")).collect();
        for l in &lines {
            writer.write_line(l.as_bytes());
        }
        drop(guard);
        writer.write_line(b"after the guard\n");

        let (bytes, writes) = capture.0.lock().unwrap().clone();
        let want = lines.concat() + "after the guard\n";
        assert_eq!(String::from_utf8(bytes).unwrap(), want);
        assert!(writes < 100, "{writes} writes for 1001 lines");
    }

    #[test]
    fn flush_writes_what_is_queued() {
        let capture = Capture::default();
        let (writer, guard) = LogWriter::new(Box::new(capture.clone()), usize::MAX).unwrap();
        writer.write_line(b"one\n");
        guard.flush();
        assert_eq!(capture.0.lock().unwrap().0, b"one\n");
    }

    fn log_file(dir: &tempfile::TempDir, max_bytes: u64, keep: u32) -> LogFile {
        LogFile {
            path: dir.path().join("order.log"),
            max_bytes,
            keep,
        }
    }

    fn read(path: impl AsRef<std::path::Path>) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn a_full_log_file_is_rotated_between_lines_and_only_the_newest_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = log_file(&dir, 1000, 2);
        let (writer, guard) = LogWriter::to_file_only(&file).unwrap();
        let lines: Vec<String> = (0..300)
            .map(|i| format!("line {i:04} of the log\n"))
            .collect();
        for batch in lines.chunks(10) {
            for line in batch {
                writer.write_line(line.as_bytes());
            }
            guard.flush();
        }
        drop(guard);

        let current = read(&file.path);
        let newer = read(dir.path().join("order.log.1"));
        let older = read(dir.path().join("order.log.2"));
        assert!(!dir.path().join("order.log.3").exists());
        // Each rotated file filled up to the limit, and by less than one batch beyond it.
        let batch_bytes = lines[..10].concat().len();
        for rotated in [&newer, &older] {
            assert!(
                rotated.len() >= 1000 && rotated.len() < 1000 + batch_bytes,
                "{}",
                rotated.len()
            );
        }
        // Oldest to newest, the files hold the last lines, whole and in order.
        let kept = older + &newer + &current;
        assert!(lines.concat().ends_with(&kept));
        assert!(
            kept.starts_with("line "),
            "a line was split: {:?}",
            &kept[..30]
        );
        assert!(kept.ends_with(lines.last().unwrap()));
    }

    #[test]
    fn what_a_log_file_held_before_counts_toward_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = log_file(&dir, 1000, 1);
        let earlier = "x".repeat(989) + "\n";
        std::fs::write(&file.path, &earlier).unwrap();
        let (writer, guard) = LogWriter::to_file_only(&file).unwrap();

        writer.write_line(b"the line that fills it\n");
        guard.flush();
        writer.write_line(b"the first line of the next file\n");
        drop(guard);

        let rotated = read(dir.path().join("order.log.1"));
        assert_eq!(rotated, earlier + "the line that fills it\n");
        assert_eq!(read(&file.path), "the first line of the next file\n");
    }

    #[test]
    fn keeping_no_files_starts_a_fresh_file_when_the_current_one_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let file = log_file(&dir, 10, 0);
        let (writer, guard) = LogWriter::to_file_only(&file).unwrap();

        writer.write_line(b"first line, long enough\n");
        guard.flush();
        writer.write_line(b"second\n");
        drop(guard);

        assert_eq!(read(&file.path), "second\n");
        assert!(!dir.path().join("order.log.1").exists());
    }

    #[test]
    fn a_limit_of_zero_never_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let file = log_file(&dir, 0, 3);
        let (writer, guard) = LogWriter::to_file_only(&file).unwrap();
        for i in 0..100 {
            writer.write_line(format!("line {i}\n").as_bytes());
            guard.flush();
        }
        drop(guard);

        assert_eq!(read(&file.path).lines().count(), 100);
        assert!(!dir.path().join("order.log.1").exists());
    }

    #[test]
    fn to_a_pipe_lines_go_in_writes_of_at_most_pipe_buf_bytes() {
        let mut buf = Vec::new();
        for i in 0..100 {
            buf.extend_from_slice(format!("{} {i}\n", "x".repeat(i * 7)).as_bytes());
        }
        buf.extend_from_slice(format!("{}\n", "y".repeat(3 * PIPE_BUF)).as_bytes());
        buf.extend_from_slice(b"last\n");
        let mut rest = &buf[..];
        let mut writes = Vec::new();
        while !rest.is_empty() {
            let end = chunk_end(rest, PIPE_BUF);
            writes.push(&rest[..end]);
            rest = &rest[end..];
        }
        assert_eq!(writes.concat(), buf);
        for w in &writes {
            assert!(w.ends_with(b"\n"));
            let lines = w.iter().filter(|b| **b == b'\n').count();
            assert!(
                w.len() <= PIPE_BUF || lines == 1,
                "{} bytes, {lines} lines",
                w.len()
            );
        }
    }
}
