//! The `ml-connector` binary: every command lives in src/cmd (the only place that knows clap).

mod cmd;

fn main() -> std::process::ExitCode {
    cmd::main()
}
