//! `omnistock stock import|export` and `omnistock listings import` as an operator runs them.
use std::path::Path;
use std::process::{Command, Output};

fn omnistock(config: &Path, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omnistock"))
        .arg("--config")
        .arg(config)
        .args(arguments)
        .env_remove("OMNISTOCK_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[test]
fn bulk_import_and_export_round_trip() {
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("omnistock.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n\n[[channels]]\nid = \"shop\"\nkind = \"sim\"\n\
             base_url = \"http://127.0.0.1:9\"\napi_token = \"t\"\nwebhook_secret = \"w\"\n\
             [channels.stock_policy]\nsafety_buffer = 1\n",
            folder.path().join("ledger.db").display()
        ),
    )
    .unwrap();
    let write = |name: &str, body: &str| {
        let path = folder.path().join(name);
        std::fs::write(&path, body).unwrap();
        path.display().to_string()
    };

    let bad = write(
        "bad.csv",
        "sku,location,on_hand\nA,default,4\nB,default,-1\n",
    );
    let refused = omnistock(&config, &["stock", "import", &bad]);
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("line 3, column on_hand"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let good = write(
        "good.csv",
        "sku,location,on_hand\nA,default,4\nB,default,9\n",
    );
    let imported = omnistock(&config, &["stock", "import", &good, "--actor", "gus"]);
    assert!(imported.status.success(), "{}", text(&imported.stderr));

    let listings = write(
        "listings.csv",
        "channel,listing_id,sku,multiplier,bundle\nshop,L1,A,2,\nshop,KIT,,,A:1|B:2\n",
    );
    let bound = omnistock(&config, &["listings", "import", &listings]);
    assert!(bound.status.success(), "{}", text(&bound.stderr));
    assert!(text(&bound.stderr).contains("2 listing(s) bound"));
    let unknown = write("unknown.csv", "channel,listing_id,sku\nelsewhere,L1,A\n");
    let refused = omnistock(&config, &["listings", "import", &unknown]);
    assert!(text(&refused.stderr).contains("line 2, column channel: unknown channel"));

    let exported = omnistock(&config, &["stock", "export"]);
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    assert_eq!(
        text(&exported.stdout),
        "sku,location,on_hand,reserved,available\nA,default,4,0,4\nB,default,9,0,9\n"
    );
    let output = folder.path().join("export.csv");
    let to_file = omnistock(
        &config,
        &["stock", "export", "--output", &output.display().to_string()],
    );
    assert!(to_file.status.success());
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        text(&exported.stdout)
    );
}
