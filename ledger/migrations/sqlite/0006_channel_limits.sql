-- What a sales channel may hold at most (as shared::ChannelLimits::default()
-- for the channels registered before), what it holds now (kept by every
-- hold transition, so the bound costs one row read, not a sum over its
-- holds), and each store's safety stock, which no channel may hold.
ALTER TABLE channels ADD COLUMN max_held_units INTEGER NOT NULL DEFAULT 10000;
ALTER TABLE channels ADD COLUMN max_level_share_percent INTEGER NOT NULL DEFAULT 100;
ALTER TABLE channels ADD COLUMN max_hold_life_seconds INTEGER NOT NULL DEFAULT 86400;
ALTER TABLE channels ADD COLUMN held_units INTEGER NOT NULL DEFAULT 0;

UPDATE channels SET held_units = COALESCE((
    SELECT SUM(l.quantity) FROM holds h JOIN hold_lines l ON l.hold_id = h.hold_id
    WHERE h.channel = channels.channel_id AND l.state = 'active'), 0);

ALTER TABLE stores ADD COLUMN safety_stock INTEGER NOT NULL DEFAULT 0;

-- A channel's active holds: the admin's list, and what a deactivation
-- gives back.
CREATE INDEX holds_by_channel ON holds (channel, expires_at) WHERE state = 'active';
