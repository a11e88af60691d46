//! How both executables end on an error: the whole chain, then exit status 1.

pub fn exit_with(e: anyhow::Error) -> ! {
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    std::process::exit(1)
}
