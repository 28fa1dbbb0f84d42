"""Operations: cleanup now; metrics, alerts and the event log later."""
