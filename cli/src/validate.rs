//! `berth validate`: the offline manifest check.

use std::path::PathBuf;

use berth::manifest;

use crate::common::{offline_registry, own_key, read};
use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    manifest: PathBuf,
    /// A registry entry (JSON) to also check containers and repositories against.
    #[arg(long)]
    registry: Option<PathBuf>,
}

pub fn run(args: ValidateArgs) -> Outcome {
    let path = &args.manifest;
    let bytes = read(path)?;
    let service = args
        .registry
        .as_deref()
        .map(|r| offline_registry(r, &bytes))
        .transpose()?;
    match manifest::validate(&bytes, &own_key(&bytes), service.as_ref()) {
        Ok(m) => {
            println!(
                "{}: valid manifest for {}/{} ({} image(s))",
                path.display(),
                m.service,
                m.release,
                m.images.len()
            );
            Ok(())
        }
        Err(problems) => {
            for p in &problems {
                println!("{}: {p}", path.display());
            }
            Err(Failure::refused(format!(
                "{} problem(s) in {}",
                problems.len(),
                path.display()
            )))
        }
    }
}
