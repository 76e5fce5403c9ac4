//! A log file that is rotated by size: `path` → `path.1` → … → `path.N`, the oldest dropped.
//!
//! Hand-written because the crates that rotate files (tracing-appender rolls by time only;
//! file-rotate and rolling-file write through a handle of their own) cannot move a process's
//! standard output and error along with the file. Ours must follow it, so that a panic or a
//! late error lands beside the log lines, in the current file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::LogFile;

/// Opens `path` for appending and points standard output and standard error at it.
pub(crate) fn redirect_std_streams(path: &Path) -> std::io::Result<()> {
    let file = open_append(path)?;
    nix::unistd::dup2_stdout(&file)?;
    nix::unistd::dup2_stderr(&file)?;
    Ok(())
}

pub(crate) fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// What a rotation replaces: the process's standard streams, or (in tests) the sink itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Follows {
    /// Standard output and error are pointed at each new file; the sink writes to stdout.
    StdStreams,
    /// The sink is replaced by each new file (tests: many writers in one process).
    #[cfg(test)]
    Sink,
}

/// Counts what is written to the current file and rotates it once it holds `max_bytes`.
#[derive(Debug)]
pub(crate) struct Rotation {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    follows: Follows,
    /// Bytes in the current file, counting what it held when we started.
    written: u64,
}

impl Rotation {
    pub(crate) fn new(file: &LogFile, follows: Follows) -> Self {
        let written = std::fs::metadata(&file.path).map_or(0, |m| m.len());
        Self {
            path: file.path.clone(),
            max_bytes: file.max_bytes,
            keep: file.keep,
            follows,
            written,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Notes `bytes` more written through `sink`; rotates when the file is full. Called between
    /// whole lines, so no line is ever split across two files.
    pub(crate) fn wrote(
        &mut self,
        bytes: usize,
        sink: &mut Box<dyn Write + Send>,
    ) -> std::io::Result<()> {
        self.written += bytes as u64;
        if self.max_bytes == 0 || self.written < self.max_bytes {
            return Ok(());
        }
        // Whatever happens next, the next attempt comes after another `max_bytes`: a failing
        // rename must not turn every write into a retry.
        self.written = 0;
        sink.flush()?;
        self.shift_older_files()?;
        let file = open_append(&self.path)?;
        match self.follows {
            Follows::StdStreams => {
                nix::unistd::dup2_stdout(&file)?;
                nix::unistd::dup2_stderr(&file)?;
            }
            #[cfg(test)]
            Follows::Sink => *sink = Box::new(file),
        }
        Ok(())
    }

    /// `path.N-1` → `path.N`, …, `path` → `path.1`; with `keep` 0 the full file is removed.
    fn shift_older_files(&self) -> std::io::Result<()> {
        if self.keep == 0 {
            return ignore_missing(std::fs::remove_file(&self.path));
        }
        for n in (1..self.keep).rev() {
            ignore_missing(std::fs::rename(self.numbered(n), self.numbered(n + 1)))?;
        }
        std::fs::rename(&self.path, self.numbered(1))
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }
}

fn ignore_missing(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
