// Pictures arrive after their message is drawn (they load from the server), so the chat's own
// autoscroll stops short of them: bring each new picture of the latest reply into view.
(function () {
  const seen = new WeakSet();
  document.addEventListener(
    "load",
    (event) => {
      const img = event.target;
      if (!(img instanceof HTMLImageElement) || !img.classList.contains("inline-image")) return;
      if (seen.has(img)) return;
      seen.add(img);
      const replies = document.querySelectorAll('[data-step-type="assistant_message"]');
      const latest = replies[replies.length - 1];
      if (latest && latest.contains(img)) img.scrollIntoView({ block: "end" });
    },
    true,
  );
})();
