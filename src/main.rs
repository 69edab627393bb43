//! The `leadscore` command: a thin layer that turns arguments into library calls.

mod cli;

// Scoring allocates many small strings and maps per lead; mimalloc makes that markedly
// cheaper than the system allocator (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
