#!/usr/bin/env bash
# Prints SQL for the "one dominant table" shape (issue 18): a ~40 MB database `dominant` whose
# 400,000-row `orders` (one secondary key) is nearly all of it, plus three small tables.
# Needs MariaDB's SEQUENCE engine (seq_1_to_N).
cat <<'SQL'
CREATE DATABASE dominant CHARACTER SET utf8mb4;
USE dominant;
CREATE TABLE orders (
  id INT PRIMARY KEY,
  customer_id INT NOT NULL,
  product_id INT NOT NULL,
  qty SMALLINT NOT NULL,
  amount DECIMAL(10,2) NOT NULL,
  status VARCHAR(12) NOT NULL,
  created DATETIME NOT NULL,
  note VARCHAR(64) NOT NULL,
  KEY customer_created (customer_id, created)
) ENGINE=InnoDB;
INSERT INTO orders SELECT seq, 1 + seq % 5000, 1 + (seq * 7) % 1000, 1 + seq % 9, (seq % 100000) / 100,
  ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'returned'), '2024-01-01' + INTERVAL seq MINUTE,
  concat('order note ', md5(seq)) FROM seq_1_to_400000;
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, region_id INT NOT NULL, KEY region (region_id)) ENGINE=InnoDB;
INSERT INTO customers SELECT seq, concat('customer ', seq), 1 + seq % 20 FROM seq_1_to_5000;
CREATE TABLE products (id INT PRIMARY KEY, title VARCHAR(60) NOT NULL, price DECIMAL(8,2) NOT NULL) ENGINE=InnoDB;
INSERT INTO products SELECT seq, concat('product ', seq), seq % 500 + 0.99 FROM seq_1_to_1000;
CREATE TABLE regions (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL) ENGINE=InnoDB;
INSERT INTO regions SELECT seq, concat('region ', seq) FROM seq_1_to_20;
SQL
