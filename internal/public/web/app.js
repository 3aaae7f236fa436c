// Trang công khai: danh sách, bản đồ vị trí (không dùng bản đồ nền bên ngoài),
// lưới ảnh chụp tự làm mới, xem trực tiếp bằng HLS gốc của trình duyệt (Safari,
// iOS, Android) hoặc ảnh làm mới liên tục khi trình duyệt không hỗ trợ.
(function () {
  'use strict';
  var AREA = { road: 'Đường giao thông', intersection: 'Nút giao', public_crowded: 'Nơi công cộng đông người' };
  var STATUS = { online: 'Đang hoạt động', offline: 'Mất tín hiệu', idle: 'Sẵn sàng', connecting: 'Đang kết nối', unknown: 'Không rõ' };
  var REFRESH_MS = 10000;
  var cams = [];
  var stillTimer = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function bust(url) { return url + '?t=' + Math.floor(Date.now() / REFRESH_MS); }

  function drawMap() {
    var map = document.getElementById('map');
    map.textContent = '';
    if (!cams.length) return;
    var minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity;
    cams.forEach(function (c) {
      minLat = Math.min(minLat, c.lat); maxLat = Math.max(maxLat, c.lat);
      minLon = Math.min(minLon, c.lon); maxLon = Math.max(maxLon, c.lon);
    });
    var dLat = (maxLat - minLat) || 0.01, dLon = (maxLon - minLon) || 0.01;
    cams.forEach(function (c) {
      var x = 5 + 90 * (c.lon - minLon) / dLon, y = 5 + 90 * (maxLat - c.lat) / dLat;
      var pin = el('button', 'pin' + (c.status === 'offline' ? ' offline' : ''));
      pin.type = 'button';
      pin.style.left = x + '%'; pin.style.top = y + '%';
      pin.title = c.name;
      pin.setAttribute('aria-label', c.name);
      pin.addEventListener('click', function () { openViewer(c); });
      var label = el('span', 'pin-label' + (x > 70 ? ' left' : ''), c.name);
      label.style.left = x + '%'; label.style.top = y + '%';
      map.appendChild(pin); map.appendChild(label);
    });
  }

  function drawGrid() {
    var grid = document.getElementById('grid');
    grid.textContent = '';
    cams.forEach(function (c) {
      var card = el('button', 'card');
      card.type = 'button';
      var img = el('img');
      img.loading = 'lazy';
      img.alt = 'Ảnh chụp ' + c.name;
      img.src = bust(c.snapshot_url);
      img.dataset.src = c.snapshot_url;
      var meta = el('div', 'meta');
      var name = el('div', 'name', c.name);
      var badge = el('span', 'badge' + (c.status === 'offline' ? ' offline' : ''), STATUS[c.status] || STATUS.unknown);
      name.appendChild(badge);
      meta.appendChild(name);
      meta.appendChild(el('div', 'area', AREA[c.area] || c.area));
      card.appendChild(img); card.appendChild(meta);
      card.addEventListener('click', function () { openViewer(c); });
      grid.appendChild(card);
    });
  }

  function refreshStills() {
    var imgs = document.querySelectorAll('#grid img');
    for (var i = 0; i < imgs.length; i++) imgs[i].src = bust(imgs[i].dataset.src);
  }

  function load() {
    fetch('/api/cameras').then(function (r) {
      if (r.status === 429) throw new Error('Quá nhiều yêu cầu, vui lòng thử lại sau.');
      if (!r.ok) throw new Error('Không tải được danh sách camera.');
      return r.json();
    }).then(function (data) {
      cams = data.cameras || [];
      document.getElementById('count').textContent = '(' + cams.length + ')';
      document.getElementById('msg').textContent = cams.length ? '' : 'Hiện chưa có camera nào được chia sẻ công khai.';
      drawMap(); drawGrid();
    }).catch(function (e) { document.getElementById('msg').textContent = e.message; });
  }

  function nativeHLS(video) {
    return !!video.canPlayType && video.canPlayType('application/vnd.apple.mpegurl') !== '';
  }

  function openViewer(c) {
    var viewer = document.getElementById('viewer');
    var video = document.getElementById('video');
    var still = document.getElementById('still');
    var note = document.getElementById('viewer-note');
    document.getElementById('viewer-title').textContent = c.name;
    viewer.hidden = false;
    if (nativeHLS(video)) {
      still.hidden = true; video.hidden = false;
      video.src = c.live_url;
      video.play().catch(function () {});
      note.textContent = 'Đang phát trực tiếp.';
      video.onerror = function () { note.textContent = 'Camera hiện không phát trực tiếp được.'; };
    } else {
      video.hidden = true; still.hidden = false;
      still.alt = 'Ảnh chụp ' + c.name;
      still.src = bust(c.snapshot_url);
      stillTimer = setInterval(function () { still.src = bust(c.snapshot_url); }, REFRESH_MS);
      note.textContent = 'Trình duyệt này không phát được HLS trực tiếp; ảnh được làm mới mỗi ' + (REFRESH_MS / 1000) + ' giây.';
    }
    document.getElementById('viewer-close').focus();
  }

  function closeViewer() {
    var video = document.getElementById('video');
    video.pause(); video.removeAttribute('src'); video.load();
    if (stillTimer) { clearInterval(stillTimer); stillTimer = null; }
    document.getElementById('viewer').hidden = true;
  }

  document.addEventListener('DOMContentLoaded', function () {
    document.getElementById('viewer-close').addEventListener('click', closeViewer);
    document.getElementById('viewer').addEventListener('click', function (e) { if (e.target.id === 'viewer') closeViewer(); });
    document.addEventListener('keydown', function (e) { if (e.key === 'Escape') closeViewer(); });
    load();
    setInterval(refreshStills, REFRESH_MS);
    setInterval(load, 60000);
  });
})();
