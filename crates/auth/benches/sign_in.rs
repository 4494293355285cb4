//! The cost of a sign-in check: the first (argon2id) and the following ones
//! for the same password (the credential cache), and a wrong password.
//!
//! `cargo bench -p caravel-auth --bench sign_in`

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use caravel_auth::{Authenticator, SignIn};
use caravel_store::{Address, Directory, NewUser};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    rt.block_on(async {
        let store = Arc::new(caravel_store::sqlite::SqliteStore::open(dir.path()).expect("store"));
        store.add_domain("bench.test").await.expect("domain");
        let hash = caravel_auth::hash_password("Bench-Password-2026").expect("hash");
        let address = Address::parse("ana@bench.test").expect("address");
        store.add_user(NewUser { address, name: None, quota: None, password_hash: hash }).await.expect("user");
        let auth = Authenticator::new(store);
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let t = Instant::now();
        let first = auth
            .verify("ana@bench.test", "Bench-Password-2026", ip, caravel_store::Protocol::Imap)
            .await
            .expect("verify");
        assert!(matches!(first, SignIn::Ok(_)));
        println!("first sign-in (argon2id): {:.2} ms", t.elapsed().as_secs_f64() * 1000.0);
        let reps = 500;
        let t = Instant::now();
        for _ in 0..reps {
            let again = auth
                .verify("ana@bench.test", "Bench-Password-2026", ip, caravel_store::Protocol::Imap)
                .await
                .expect("verify");
            assert!(matches!(again, SignIn::Ok(_)));
        }
        println!("cached sign-in: {:.3} ms each ({reps})", t.elapsed().as_secs_f64() * 1000.0 / reps as f64);
        println!("argon2id checks run: {}", auth.password_checks());
    });
}
