// Elevate's only script, an enhancement: show every <time datetime="…"> in the viewer's own
// time zone, keeping the UTC instant in the tooltip. Without it the pages show UTC.
document.querySelectorAll('time[datetime]').forEach((el) => {
  const at = new Date(el.getAttribute('datetime'));
  if (Number.isNaN(at.getTime())) return;
  el.title = `${el.getAttribute('datetime')} (UTC)`;
  el.textContent = at.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
});
