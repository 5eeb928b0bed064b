"""`make chaos`: concurrent lifecycles under faults and crashes, then proofs (see __main__)."""
