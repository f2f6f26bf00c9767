//! Reading what is typed into a prompt: pure functions, each with the error to show.

/// Parses `key=value` (spaces around the key are ignored; the value is taken as typed).
pub fn parse_put(input: &str) -> Result<(String, String), String> {
    if input.trim().is_empty() {
        return Err("type key=value, e.g. color=blue".into());
    }
    let Some((key, value)) = input.split_once('=') else {
        return Err("missing '=': type key=value, e.g. color=blue".into());
    };
    let key = key.trim();
    if key.is_empty() {
        return Err("the key is empty: type key=value".into());
    }
    Ok((key.to_string(), value.trim().to_string()))
}

/// Parses a key to get.
pub fn parse_key(input: &str) -> Result<String, String> {
    let key = input.trim();
    if key.is_empty() {
        return Err("type the key to read, e.g. color".into());
    }
    Ok(key.to_string())
}

/// Parses a loss percentage (`5`, `12.5`, `5%`) into a probability.
pub fn parse_loss(input: &str) -> Result<f64, String> {
    let text = input.trim().trim_end_matches('%').trim();
    match text.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p / 100.0),
        Ok(_) => Err(format!("{} is not between 0 and 100", input.trim())),
        Err(_) => Err("not a number: type a percentage from 0 to 100, e.g. 5".into()),
    }
}

/// The shortest election timeout at normal speed, in milliseconds (the default configuration:
/// 15 ticks of 10 ms), against which a delay is judged.
pub const ELECTION_TIMEOUT_MS: u64 = 150;

/// The longest delay the console sets, in milliseconds.
pub const MAX_DELAY_MS: u64 = 10_000;

/// Parses a delay in milliseconds: `lo-hi` or a single number.
pub fn parse_delay(input: &str) -> Result<(u64, u64), String> {
    let text = input.trim().trim_end_matches("ms").trim();
    let bad = || "not a delay: type milliseconds as lo-hi (e.g. 2-10) or one number".to_string();
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (lo, hi) = match text.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => {
            let v = number(text)?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(format!("{lo} is above {hi}: type the low end first"));
    }
    if hi > MAX_DELAY_MS {
        return Err(format!("{hi} ms is too long: {MAX_DELAY_MS} ms at most"));
    }
    Ok((lo, hi))
}
