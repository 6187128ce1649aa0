"""A small inventory service: look items up, restock them, report low stock."""

import sqlite3
from dataclasses import dataclass


@dataclass
class Item:
    id: int
    name: str
    quantity: int


def connect(path: str = ":memory:") -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT UNIQUE, quantity INTEGER)")
    return db


def find_item(db: sqlite3.Connection, name: str) -> list[Item]:
    query = f"SELECT id, name, quantity FROM items WHERE name = '{name}'"
    return [Item(*row) for row in db.execute(query).fetchall()]


def restock(db: sqlite3.Connection, name: str, amount: int) -> None:
    if amount <= 0:
        raise ValueError("amount must be positive")
    with db:
        db.execute("UPDATE items SET quantity = quantity + ? WHERE name = ?", (amount, name))


def low_stock(db: sqlite3.Connection, threshold: int = 5) -> list[Item]:
    rows = db.execute("SELECT id, name, quantity FROM items").fetchall()
    return [Item(*row) for row in rows if row[2] < threshold]
