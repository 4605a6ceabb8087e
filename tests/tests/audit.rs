//! Invariant 1: the audit trail is append-only and tampering breaks its hash chain.
#![allow(clippy::unwrap_used)]

use algoagent_jobs::db::transitions::{self, Transition};
use algoagent_tests::TestEnv;

fn transition(entity: &str, from: Option<&str>, to: &str) -> Transition {
    Transition {
        entity_type: "run",
        entity_id: entity.into(),
        from: from.map(Into::into),
        to: to.into(),
        actor: "test".into(),
        job_id: None,
        details: serde_json::json!({ "why": "test" }),
    }
}

#[tokio::test]
async fn transitions_refuse_update_and_delete_and_tampering_breaks_the_chain() {
    // Arrange
    let env = TestEnv::new().await.unwrap();
    let mut conn = env.pool.acquire().await.unwrap();
    transitions::record(&mut conn, &transition("r1", None, "submitted")).await.unwrap();
    transitions::record(&mut conn, &transition("r1", Some("submitted"), "generating")).await.unwrap();
    transitions::record(&mut conn, &transition("r2", None, "submitted")).await.unwrap();
    assert!(transitions::broken_links(&env.pool, "run", "r1").await.unwrap().is_empty());
    let rows = transitions::for_entity(&env.pool, "run", "r1").await.unwrap();
    assert_eq!(rows[1].prev_hash, rows[0].hash, "each row carries its predecessor's hash");

    // Act + Assert: UPDATE, DELETE and TRUNCATE are refused.
    for sql in ["UPDATE transitions SET actor = 'mallory'", "DELETE FROM transitions", "TRUNCATE transitions"]
    {
        let err = sqlx::query(sql).execute(&env.pool).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }

    // A superuser who disables the guard and edits a row is caught by the chain.
    sqlx::query("ALTER TABLE transitions DISABLE TRIGGER transitions_append_only")
        .execute(&env.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE transitions SET to_state = 'merged' WHERE id = $1")
        .bind(rows[0].id)
        .execute(&env.pool)
        .await
        .unwrap();
    let broken = transitions::broken_links(&env.pool, "run", "r1").await.unwrap();
    assert_eq!(broken, vec![rows[0].id]);
    assert!(transitions::broken_links(&env.pool, "run", "r2").await.unwrap().is_empty());
    drop(conn);
    env.shutdown().await.unwrap();
}
