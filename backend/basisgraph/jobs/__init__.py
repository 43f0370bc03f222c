"""Background jobs: SAE training and the trained model's build, in one queue (registry.py) kept in
a store (store.py: SQLite; redisstore.py: Redis), run by one worker process per cache directory
(worker.py), never inside a web request; the cache's byte budget (budget.py)."""
