//! What the gate carries from one invocation to the next (pure): when it began, and which
//! images it already asked ECR to scan. Small by construction: image positions, not names, so
//! it fits CodePipeline's 2048-character continuation token for any release.

use serde::{Deserialize, Serialize};

use crate::migration::MAX_TOKEN_CHARS;

const KIND: &str = "scan";

/// The gate's continuation token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Always `scan`: tells this token from migrate's.
    pub k: String,
    pub v: u8,
    /// The job of the action's first invocation (every continuation is a new job).
    pub job: String,
    /// The first invocation: `scan.wait_seconds` counts from here.
    pub started: u64,
    /// Positions (in the release's container order) of the images whose basic scan the gate
    /// started: `StartImageScan` once per image and release.
    #[serde(default)]
    pub scans: Vec<u16>,
    /// How many invocations came before this one.
    #[serde(default)]
    pub round: u32,
}

impl Progress {
    /// The progress of a first invocation (job `job` at `now_epoch`).
    pub fn first(job: &str, now_epoch: u64) -> Self {
        Self {
            k: KIND.into(),
            v: 1,
            job: job.chars().take(200).collect(),
            started: now_epoch,
            scans: Vec::new(),
            round: 0,
        }
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        let p: Progress = serde_json::from_str(raw)
            .map_err(|e| format!("continuation token is not the scan gate's: {e}"))?;
        if p.k != KIND {
            return Err(format!(
                "continuation token is not the scan gate's (kind {:?})",
                p.k
            ));
        }
        Ok(p)
    }

    /// The token for the next invocation.
    pub fn next(&self) -> String {
        let mut next = self.clone();
        next.round += 1;
        let text = serde_json::to_string(&next).unwrap_or_default();
        debug_assert!(text.chars().count() <= MAX_TOKEN_CHARS);
        text
    }

    pub fn started_scan(&self, position: usize) -> bool {
        u16::try_from(position).is_ok_and(|p| self.scans.contains(&p))
    }

    pub fn note_scan(&mut self, position: usize) {
        if let Ok(p) = u16::try_from(position)
            && !self.scans.contains(&p)
        {
            self.scans.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_fit_codepipeline_for_any_release() {
        let mut p = Progress::first(&"j".repeat(500), 1_800_000_000);
        for i in 0..300 {
            p.note_scan(i);
            p.note_scan(i);
        }
        let text = p.next();
        assert!(text.chars().count() <= MAX_TOKEN_CHARS, "{}", text.len());
        let back = Progress::decode(&text).unwrap();
        assert_eq!(back.round, 1);
        assert_eq!(back.scans.len(), 300, "each image once");
        assert!(back.started_scan(299) && !back.started_scan(300));
        assert_eq!(back.started, 1_800_000_000);
    }

    #[test]
    fn another_functions_token_is_refused() {
        let migrate = r#"{"v":2,"service":"web","release":"v1","cluster":"c","task_arn":"t","container":"app","started_epoch":1,"deadline_epoch":2}"#;
        assert!(Progress::decode(migrate).is_err());
        assert!(Progress::decode("not json").is_err());
        assert!(Progress::decode(r#"{"k":"migrate","v":1,"job":"j","started":1}"#).is_err());
    }
}
