package peersapi

// SetTestHookWaking makes refresh run hook before it compares views.
func SetTestHookWaking(n *Notifier, hook func()) { n.testHookWaking = hook }
