"""Money between any two IC cards (转账; issue 14 deliverable 4, docs/cards.md
"Transfers"): one transfer with two legs, the source's debit first, then the
destination's credit, each proven by its card."""
