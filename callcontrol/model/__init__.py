"""The call model: calls and legs, the CallInfo snapshot, principals' scope. No I/O."""
