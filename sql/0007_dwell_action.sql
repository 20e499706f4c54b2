-- The tracker's engaged-time increments (issue 13) get an action of their own, so they add
-- up in watch_time without counting as views. Adding a value to an Enum8 is a change of
-- metadata only (no data is rewritten), on 18.16 and current releases.
ALTER TABLE user_behaviors
    MODIFY COLUMN action_type Enum8('impression' = 1, 'click' = 2, 'view' = 3, 'like' = 4,
                                    'share' = 5, 'add_cart' = 6, 'order' = 7, 'dwell' = 8);
