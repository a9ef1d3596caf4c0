//! Helpers shared by the fuzz targets: inputs are text, so seeds can be written by hand.

/// The first `n - 1` lines of `data` as separate fields, the rest (newlines kept) as the last one.
/// Missing fields are empty. Invalid UTF-8 is replaced, as the connector's readers do.
pub fn fields(data: &[u8], n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let mut out: Vec<String> = text.splitn(n, '\n').map(str::to_string).collect();
    out.resize(n, String::new());
    out
}

/// A small selector from the first byte, and the rest of the input.
pub fn choose(data: &[u8], choices: usize) -> (usize, &[u8]) {
    match data.split_first() {
        Some((b, rest)) => (*b as usize % choices, rest),
        None => (0, data),
    }
}
