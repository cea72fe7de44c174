//! A small blocking JSON client for tests.

use anyhow::Result;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Http {
    base: String,
    client: reqwest::blocking::Client,
}

/// Status code and parsed body (Null when not JSON).
pub type Reply = (u16, Value);

impl Http {
    pub fn new(base: &str) -> Http {
        Http {
            base: base.trim_end_matches('/').to_string(),
            // Generous: a snapshot recovery of thousands of points on a loaded machine.
            client: reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .unwrap_or_default(),
        }
    }

    /// The same client (and its pooled connections) for another server: load loops that
    /// made a client per request would run out of loopback ports.
    pub fn rebase(&self, base: &str) -> Http {
        Http {
            base: base.trim_end_matches('/').to_string(),
            client: self.client.clone(),
        }
    }

    fn send(&self, rb: reqwest::blocking::RequestBuilder) -> Result<Reply> {
        let resp = rb.send()?;
        let status = resp.status().as_u16();
        let text = resp.text()?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    pub fn get(&self, path: &str) -> Result<Reply> {
        self.send(self.client.get(format!("{}{path}", self.base)))
    }
    pub fn delete(&self, path: &str) -> Result<Reply> {
        self.send(self.client.delete(format!("{}{path}", self.base)))
    }
    pub fn put(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(self.client.put(format!("{}{path}", self.base)).json(body))
    }
    pub fn post(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(self.client.post(format!("{}{path}", self.base)).json(body))
    }
    pub fn patch(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(self.client.patch(format!("{}{path}", self.base)).json(body))
    }
    /// Sends raw bytes (for malformed-JSON tests).
    pub fn raw(&self, method: &str, path: &str, body: &str) -> Result<Reply> {
        let m = reqwest::Method::from_bytes(method.as_bytes())?;
        self.send(
            self.client
                .request(m, format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    }
    pub fn get_with_key(&self, path: &str, key: &str) -> Result<Reply> {
        self.send(
            self.client
                .get(format!("{}{path}", self.base))
                .header("api-key", key),
        )
    }
    pub fn put_with_key(&self, path: &str, body: &Value, key: &str) -> Result<Reply> {
        self.send(
            self.client
                .put(format!("{}{path}", self.base))
                .header("api-key", key)
                .json(body),
        )
    }
    /// The body as bytes (downloads).
    pub fn bytes(&self, path: &str) -> Result<(u16, Vec<u8>)> {
        let r = self.client.get(format!("{}{path}", self.base)).send()?;
        Ok((r.status().as_u16(), r.bytes()?.to_vec()))
    }
    /// Posts `data` as the multipart form field `field` (file uploads).
    pub fn upload(&self, path: &str, field: &str, data: Vec<u8>) -> Result<Reply> {
        let part = reqwest::blocking::multipart::Part::bytes(data).file_name("upload.snapshot");
        let form = reqwest::blocking::multipart::Form::new().part(field.to_string(), part);
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .multipart(form),
        )
    }
    pub fn text(&self, path: &str) -> Result<(u16, String)> {
        let r = self.client.get(format!("{}{path}", self.base)).send()?;
        Ok((r.status().as_u16(), r.text()?))
    }
}

/// A short stable name derived from `s` (for file names).
pub fn short_hash(s: &str) -> String {
    let h = s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:08x}", h as u32)
}
