//! Short lookup keys built on the stack, so that a lookup allocates nothing for
//! them; a key too long for the stack moves to the heap.

use std::fmt;

const STACK: usize = 192;

pub(crate) struct Key {
    stack: [u8; STACK],
    len: usize,
    spill: Option<String>,
}

impl Key {
    pub(crate) fn new() -> Key {
        Key {
            stack: [0; STACK],
            len: 0,
            spill: None,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
        if let Some(spill) = &mut self.spill {
            spill.clear();
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match &self.spill {
            Some(spill) => spill,
            // Only whole `&str`s are ever copied in, so this is always UTF-8.
            None => std::str::from_utf8(&self.stack[..self.len]).unwrap_or_default(),
        }
    }

    /// Appends `s` with ASCII letters lowercased.
    pub(crate) fn push_lower(&mut self, s: &str) {
        let from = self.len;
        let _ = fmt::Write::write_str(self, s);
        match &mut self.spill {
            Some(spill) => {
                let start = spill.len() - s.len();
                spill[start..].make_ascii_lowercase();
            }
            None => self.stack[from..self.len].make_ascii_lowercase(),
        }
    }
}

impl fmt::Write for Key {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(spill) = &mut self.spill {
            spill.push_str(s);
        } else if self.len + s.len() <= STACK {
            self.stack[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut spill = String::with_capacity(self.len + s.len());
            spill.push_str(self.as_str());
            spill.push_str(s);
            self.spill = Some(spill);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    #[test]
    fn short_and_long_keys() {
        let mut key = Key::new();
        let host = "Example.com";
        let _ = write!(key, "{host}:{}", 8080);
        assert_eq!(key.as_str(), "Example.com:8080");
        key.clear();
        key.push_lower("Ab.C");
        assert_eq!(key.as_str(), "ab.c");
        key.clear();
        let long = "X".repeat(STACK - 2);
        key.push_lower(&long);
        key.push_lower("YZé");
        assert_eq!(key.as_str(), format!("{}yzé", "x".repeat(STACK - 2)));
        key.clear();
        assert_eq!(key.as_str(), "");
    }
}
