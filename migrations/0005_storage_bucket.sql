-- The private Supabase Storage bucket for uploaded images and finished videos (STORAGE_BUCKET,
-- default wan-media). Private: the service hands out expiring signed URLs only.
insert into storage.buckets (id, name, public, allowed_mime_types)
values ('wan-media', 'wan-media', false, array['image/png', 'image/jpeg', 'image/webp', 'video/mp4'])
on conflict (id) do nothing;
