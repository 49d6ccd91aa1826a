//! A command's output to stdout: when its reader goes away (`tether-agent render DIR | head`),
//! the command ends quietly, with the exit code a shell reports for a process ended by
//! `SIGPIPE`, instead of an error message or a panic.

/// The exit code of a command whose stdout was closed by its reader.
pub const EXIT_CLOSED_PIPE: u8 = 141;

/// Whether a write failed because the reader of the output went away.
#[must_use]
pub fn closed_pipe(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::BrokenPipe
}
