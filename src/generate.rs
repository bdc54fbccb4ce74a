//! (placeholder: the generator is being written)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Parquet,
    Mixed,
}
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub out: std::path::PathBuf,
    pub seed: u64,
    pub scale: f64,
    pub first_month: (i32, u32),
    pub last_month: (i32, u32),
    pub format: OutputFormat,
    pub progress: bool,
}
#[derive(Debug, Clone, Default)]
pub struct GenerateSummary {
    pub extracts: usize,
    pub rows: std::collections::BTreeMap<String, u64>,
    pub cases: u64,
}
pub fn generate(_opts: &GenerateOptions) -> anyhow::Result<GenerateSummary> {
    anyhow::bail!("not yet")
}
