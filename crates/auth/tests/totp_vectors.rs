//! The published test vectors: RFC 4226 appendix D (HOTP) and RFC 6238
//! appendix B (TOTP, SHA-1/256/512, 8 digits), copied into tests/data.

use caravel_auth::totp::{hotp, Algorithm};

fn load(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("json")
}

#[test]
fn rfc4226_hotp_vectors() {
    let v = load("rfc4226-hotp.json");
    let key = v["secret_ascii"].as_str().expect("key").as_bytes().to_vec();
    let vectors = v["vectors"].as_array().expect("vectors");
    assert_eq!(vectors.len(), 10);
    for t in vectors {
        let counter = t["counter"].as_u64().expect("counter");
        assert_eq!(hotp(&key, counter, 6, Algorithm::Sha1), t["expected"].as_str().expect("code"), "counter {counter}");
    }
}

#[test]
fn rfc6238_totp_vectors() {
    let v = load("rfc6238.json");
    let vectors = v["vectors"].as_array().expect("vectors");
    assert_eq!(vectors.len(), 18);
    for t in vectors {
        let algorithm = match t["algorithm"].as_str().expect("alg") {
            "SHA1" => Algorithm::Sha1,
            "SHA256" => Algorithm::Sha256,
            "SHA512" => Algorithm::Sha512,
            other => panic!("unknown algorithm {other}"),
        };
        let key = t["secret_ascii"].as_str().expect("key").as_bytes();
        let time = t["time"].as_i64().expect("time");
        let step = caravel_auth::totp::step(time) as u64;
        let digits = t["digits"].as_u64().expect("digits") as u32;
        assert_eq!(hotp(key, step, digits, algorithm), t["expected"].as_str().expect("code"), "{t}");
        // The base32 form of the key (what apps are given) decodes to it.
        let b32 = t["secret_base32"].as_str().expect("b32");
        assert_eq!(caravel_auth::totp::base32_decode(b32).expect("b32"), key);
    }
}
