//! `armrest`: runs a `.tflite` or `.onnx` model with tract hosting the model
//! and armrest's kernels running the nodes they support.
//!
//! ```text
//! armrest run MODEL [--input FILE.npy]... [--output FILE.npy]... [--threads N] [--kernels K] [--tract]
//! armrest bench MODEL [--runs N] [--threads N] [--kernels K] [--input FILE.npy]...
//! armrest report MODEL [--threads N] [--kernels K]
//! ```

use armrest_runner::{cli, commands};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match cli::parse(&args) {
        Ok(cli::Command::Help) => {
            print!("{}", cli::USAGE);
            0
        }
        Ok(cmd) => match commands::execute(cmd) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("armrest: error: {e}");
                1
            }
        },
        Err(e) => {
            eprintln!("armrest: error: {e}\n\n{}", cli::USAGE);
            2
        }
    };
    std::process::exit(code);
}
