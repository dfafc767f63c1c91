/// Formatter fixtures: an unformatted plan and the exact text `ferry fmt` must produce for it.
/// Kept as Swift raw strings so the test target needs no resource declarations.
enum FormatterFixtures {
    static let input = #"""
{"backups": {"prod-nightly": {"keep": 7, "every": "24h", "to": "../backups/prod", "databases": ["app"], "of": "prod"}},
 "copies": {
    "staging-app": {"onExisting": "replace", "users": "sync", "databases": {"app": "app_staging", "billing": "billing"}, "to": "staging", "from": "prod", "x-note": "kept \"as\" is\ttab é"},
    "wide": {"from": "prod", "to": "staging", "databases": {"a_very_long_database_name_one": "target_one", "a_very_long_database_name_two": "target_two"}}
 },
 "ferry": 1,
 "instances": {"prod": {"region": "local", "password": {"env": "PROD_DB_PASSWORD"}, "url": "mysql://app@127.0.0.1:3306", "engine": "mysql", "storageLimit": 1.50e3},
   "empty": {}},
 "imports": {"cache-warm": {"from": ["s3://bucket/cache-1_of_2.rdb.gz", "s3://bucket/cache-2_of_2.rdb.gz", "s3://bucket/cache-3.rdb.gz"], "database": "0", "into": "cache", "after": []}},
 "zzz-extra": {"nested": [1, {"a": null, "b": true}]}
}

"""#

    static let expected = #"""
{
  "ferry": 1,
  "instances": {
    "prod": {
      "engine": "mysql",
      "url": "mysql://app@127.0.0.1:3306",
      "password": { "env": "PROD_DB_PASSWORD" },
      "region": "local",
      "storageLimit": 1.50e3
    },
    "empty": {}
  },
  "imports": {
    "cache-warm": {
      "into": "cache",
      "database": "0",
      "from": [
        "s3://bucket/cache-1_of_2.rdb.gz",
        "s3://bucket/cache-2_of_2.rdb.gz",
        "s3://bucket/cache-3.rdb.gz"
      ],
      "after": []
    }
  },
  "copies": {
    "staging-app": {
      "from": "prod",
      "to": "staging",
      "databases": { "app": "app_staging", "billing": "billing" },
      "users": "sync",
      "onExisting": "replace",
      "x-note": "kept \"as\" is\ttab é"
    },
    "wide": {
      "from": "prod",
      "to": "staging",
      "databases": {
        "a_very_long_database_name_one": "target_one",
        "a_very_long_database_name_two": "target_two"
      }
    }
  },
  "backups": {
    "prod-nightly": {
      "of": "prod",
      "databases": [ "app" ],
      "to": "../backups/prod",
      "every": "24h",
      "keep": 7
    }
  },
  "zzz-extra": { "nested": [ 1, { "a": null, "b": true } ] }
}

"""#
}
