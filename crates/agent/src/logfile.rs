//! The service's log: a file that rolls over at a size (`agent.log` → `agent.log.1` … `.N`,
//! oldest dropped), so an agent left running for years cannot fill the disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct RollingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    /// The open file (none while it is being renamed) and its length.
    state: Mutex<(Option<File>, u64)>,
}

impl RollingFile {
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<Arc<Self>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let len = file.metadata()?.len();
        Ok(Arc::new(Self {
            path: path.to_path_buf(),
            max_bytes,
            keep: keep.max(1),
            state: Mutex::new((Some(file), len)),
        }))
    }

    fn numbered(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn roll(&self, state: &mut (Option<File>, u64)) -> io::Result<()> {
        // On Windows an open file cannot be renamed: close it first.
        state.0 = None;
        let _ = std::fs::remove_file(self.numbered(self.keep));
        for n in (1..self.keep).rev() {
            let _ = std::fs::rename(self.numbered(n), self.numbered(n + 1));
        }
        std::fs::rename(&self.path, self.numbered(1))?;
        state.0 = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?,
        );
        state.1 = 0;
        Ok(())
    }

    pub fn write_line(&self, buf: &[u8]) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.1 > 0 && state.1 + buf.len() as u64 > self.max_bytes {
            self.roll(&mut state)?;
        }
        match state.0.as_mut() {
            Some(f) => f.write_all(buf)?,
            None => return Err(io::Error::other("the log file could not be reopened")),
        }
        state.1 += buf.len() as u64;
        Ok(())
    }
}

/// A writer for tracing-subscriber: each event is written whole.
#[derive(Clone)]
pub struct LogWriter(pub Arc<RollingFile>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_line(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rolls_over_at_its_size_and_keeps_so_many_files() {
        let dir = std::env::temp_dir().join(format!("mlc-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("agent.log");
        let log = RollingFile::open(&path, 100, 2).unwrap();
        for i in 0..10 {
            log.write_line(format!("line {i:02} {}\n", "x".repeat(40)).as_bytes())
                .unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.len() <= 100, "{current}");
        assert!(current.contains("line 09"));
        let one = std::fs::read_to_string(path.with_file_name("agent.log.1")).unwrap();
        assert!(one.contains("line 07"), "{one}");
        assert!(path.with_file_name("agent.log.2").exists());
        assert!(!path.with_file_name("agent.log.3").exists(), "only 2 kept");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
