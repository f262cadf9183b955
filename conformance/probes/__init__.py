"""What the suite measures about a backend beside its cases: capabilities, semantics, primitives and parameter offsets."""
