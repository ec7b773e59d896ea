"""Self-bootstrapping rounds: sample -> verify -> select -> fine-tune -> sample again."""
