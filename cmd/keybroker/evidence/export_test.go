package evidence

// CachedChains returns how many verified chains v remembers (tests only).
func CachedChains(v *Verifier) int { return v.chains.len() }

// LimitChainCache replaces v's chain cache by an empty one holding at most n
// chains (tests only).
func LimitChainCache(v *Verifier, n int) { v.chains = newChainCache(n) }
