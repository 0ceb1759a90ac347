// rust_copy SRC DST: what a Rust program gets from the standard library.
// A file is copied with std::fs::copy (copy_file_range, then sendfile or
// read/write; it keeps the permission bits). A directory is walked and each
// file copied the same way, symlinks recreated as symlinks; the standard
// library has no tree copy, so this is the few lines a program would write
// (no timestamps, owners or xattrs).  Built by bench/suite.py with rustc -O.
use std::{env, fs, io, os::unix::fs::symlink, path::Path, process};

fn copy(src: &Path, dst: &Path) -> io::Result<()> {
    let kind = fs::symlink_metadata(src)?.file_type();
    if kind.is_symlink() {
        symlink(fs::read_link(src)?, dst)
    } else if kind.is_dir() {
        fs::create_dir(dst)?;
        for entry in fs::read_dir(src)? {
            let entry = entry?;
            copy(&entry.path(), &dst.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        fs::copy(src, dst).map(|_| ())
    }
}

fn main() {
    let args: Vec<String> = env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: rust_copy SRC DST");
        process::exit(2);
    }
    if let Err(e) = copy(Path::new(&args[1]), Path::new(&args[2])) {
        eprintln!("rust_copy: {}", e);
        process::exit(1);
    }
}
