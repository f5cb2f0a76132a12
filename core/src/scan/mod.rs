//! The scan gate's decisions (pure): what ECR's answer means for one image, which findings
//! block, the verdict over a release's images, what the job result and the record say, and what
//! one invocation tells the next. The gate itself (ECR calls, the job) is `berth::scan`.

mod message;
mod token;
mod verdict;

#[cfg(test)]
mod tests;

pub use message::{
    BlockingFinding, ImageSummary, MAX_RECORDED_BLOCKING, ScanSummary, blocked, fit, summarize,
};
pub use token::Progress;
pub use verdict::{
    Class, Finding, Judged, MAX_FINDINGS, MAX_PAGES, Observation, Observed, PAGE_SIZE, State,
    Verdict, blocked_findings, blocking, classify, decide, ignored, rank, state,
};
