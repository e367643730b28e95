// Checkpoint
