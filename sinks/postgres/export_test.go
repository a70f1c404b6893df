package postgres

// TestPool is testPool for the external tests (chaos_test.go, whose
// internal/pgchaos imports this package).
var TestPool = testPool
