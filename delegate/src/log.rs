//! Levelled messages to stderr, prefixed `armrest:`.

use crate::options::LogLevel;

/// Where a delegate's messages go, at its configured level.
#[derive(Clone, Copy, Debug)]
pub struct Logger {
    pub level: LogLevel,
}

impl Logger {
    pub fn enabled(&self, level: LogLevel) -> bool {
        level <= self.level
    }

    pub fn log(&self, level: LogLevel, msg: &str) {
        if self.enabled(level) {
            eprintln!("armrest: [{}] {msg}", level.name());
        }
    }

    pub fn error(&self, msg: &str) {
        self.log(LogLevel::Error, msg)
    }
    pub fn warn(&self, msg: &str) {
        self.log(LogLevel::Warn, msg)
    }
    pub fn info(&self, msg: &str) {
        self.log(LogLevel::Info, msg)
    }
    pub fn debug(&self, msg: &str) {
        self.log(LogLevel::Debug, msg)
    }
}
