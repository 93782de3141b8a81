"""The services: one module per concept (cases, transfers, sweeps, ...), each the one place
its verbs live. The CLI, the flows, the demo and every later surface call these; they stand
on the models and the floor (`casework.core`), and never on a surface above them."""
